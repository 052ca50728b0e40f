"""Live scores (vad/live/livescore.py): the incremental scorer gives the scores of the whole-window
re-score (``vad watch`` before it) on a stream, for every recipe; batches do not change a
score; with nothing that depends on other samples, a live score is the offline one."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from vad.cache import VideoEmbeddings
from vad.config import load_config
from vad.live.livescore import IncrementalScorer, WindowScorer
from vad.live.scopes import _DescriptionRun, all_scopes, scope_masks
from vad.pipeline import Detector
from vad.scoring.calibration import Calibration
from vad.scoring.heads import scope_values

FPS = 2.0
WINDOW_S = 15.0  # 31 samples: the 100-sample stream fills it and slides it by 70
TOLERANCE = 1e-5  # scores are rounded to 1e-6; float rounding of cosines is all that differs
RECIPE_KEYS = ("context", "smoothing", "window_s", "head", "anchor", "refine", "motion_gate")

BANK = {
    "version": 2,
    "name": "live-test",
    "templates": ["{action} {place}"],
    "global_templates": ["{action}"],
    "scene_templates": ["{scene}"],
    "global": {
        "normal": {
            "shared": ["a person sitting on a bench", "people walking in a corridor"],
            "fighting": ["two people shaking hands"],
        },
        "anomalous": {
            "fighting": ["two people exchanging punches", "a group brawling"],
            "fire": ["flames spreading through a room"],
        },
    },
    "scenes": [
        {
            "name": "park",
            "scene": "a park",
            "place": "in a park",
            "normal": ["a person sitting on a bench", "a dog running on grass"],
            "anomalous": ["a person climbing a tree at night"],
        },
        {
            "name": "corridor",
            "scene": "a corridor",
            "place": "in a corridor",
            "normal": ["people walking in a corridor", "a cleaner mopping"],
            "anomalous": ["a person kicking a door"],
        },
        {
            "name": "shop",
            "scene": "a shop",
            "place": "in a shop",
            "normal": ["a customer paying"],
            "anomalous": ["a person smashing a display"],
        },
    ],
}


@pytest.fixture()
def bank(tmp_path):
    path = tmp_path / "bank.yaml"
    path.write_text(yaml.safe_dump(BANK, sort_keys=False))
    return path


def stream(encoder, n: int = 100, seed: int = 0) -> np.ndarray:
    """A scene drifting from people sitting to people walking, with two fights (samples
    50-64 and 85-89) and noise: scores across [0, 1], a moving context and anchor."""
    rng = np.random.default_rng(seed)
    sit, walk, fight = encoder.encode_text(
        ["a person sitting on a bench", "people walking in a corridor", FIGHT]
    )
    out = []
    for i in range(n):
        base = sit * (1 - i / n) + walk * i / n
        if 50 <= i < 65 or 85 <= i < 90:
            base = 0.4 * base + 0.6 * fight
        v = base + 0.35 * rng.standard_normal(encoder.dim) / np.sqrt(encoder.dim)
        out.append(v / np.linalg.norm(v))
    return np.asarray(out, np.float32)


FIGHT = "two people exchanging punches"


def detector(stand_in, bank, **kw) -> Detector:
    kw.setdefault("context", "auto")
    kw.setdefault("prompts", bank)
    return Detector(encoder=stand_in, use_cache=False, isolate_decoding=False, **kw)


# configs/nova.yaml's scoring recipe (its model, bank and rate are not the point here)
NOVA = {k: v for k, v in load_config("nova").items() if k in RECIPE_KEYS}


def one_by_one(scorer, embeddings) -> np.ndarray:
    return np.array([scorer.add(e[None])[0].score for e in embeddings])


# the stream's first 32 samples build NOVA's anchor (the default), which then stays while the
# 31-sample window slides on; the mean anchor follows the window
RECIPES = {
    "default": {},  # Detector()'s recipe: margin, nova anchor, no refinement, no gate
    "default bank": {"prompts": "default"},  # class pools with shared normals (version 3)
    "original": {"head": "softmax", "anchor": "none", "refine": "none"},
    "knn-vote": {"head": "knn-vote"},
    "softmax+anchor": {"head": "softmax"},
    "no context": {"context": "none"},
    "fixed context": {"context": "a park"},
    "margin, no anchor": {"anchor": "none"},
    "mean anchor": {"anchor": "mean"},
    "mean anchor, softmax": {"head": "softmax", "anchor": "mean"},
    "mean anchor, knn-vote": {"head": "knn-vote", "anchor": "mean"},
    "nova anchor, fixed context, knn-vote": {"head": "knn-vote", "context": "a park"},
    "motion gate": {"motion_gate": "nova"},
    "motion gate unscaled, softmax": {"head": "softmax", "motion_gate": "unscaled"},
    "refine knn": {"refine": "knn"},  # neighbours 2 s apart or more
    "refine knn, mean anchor, softmax": {"refine": "knn", "head": "softmax", "anchor": "mean"},
    "refine knn, gate, median": {"refine": "knn", "motion_gate": "nova", "smoothing": "median"},
    "nova.yaml": NOVA,
    "mean smoothing": {"smoothing": "mean", "window_s": 3.0},
    "median smoothing": {"smoothing": "median"},
    "no smoothing": {"smoothing": "none"},
}


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_incremental_scores_equal_the_window_rescore(stand_in, bank, recipe):
    det = detector(stand_in, bank, **RECIPES[recipe])
    embeddings = stream(stand_in)
    live = one_by_one(IncrementalScorer(det, FPS, WINDOW_S), embeddings)
    again = one_by_one(WindowScorer(det, FPS, WINDOW_S), embeddings)
    assert live.max() - live.min() > 0.3  # a stream whose scores move
    np.testing.assert_allclose(live, again, rtol=0, atol=TOLERANCE)


def test_with_a_calibration_too(stand_in, bank):
    det = detector(stand_in, bank)
    memory = stream(stand_in, n=40, seed=1)[:30]  # normal footage: sitting, no fight
    det.sample_novelty = Calibration(
        about={"novelty": {"d50": 0.05, "d99": 0.3, "weight": 0.5}},
        memory=memory,
        memory_video=np.zeros(len(memory), int),
        memory_time=np.arange(len(memory)) / FPS,
        rate_per_hour=np.zeros(1001),
    ).sample_novelty
    embeddings = stream(stand_in)
    live = one_by_one(IncrementalScorer(det, FPS, WINDOW_S), embeddings)
    again = one_by_one(WindowScorer(det, FPS, WINDOW_S), embeddings)
    det.sample_novelty = None
    plain = one_by_one(IncrementalScorer(det, FPS, WINDOW_S), embeddings)
    assert np.abs(live - plain).max() > 0.05  # the calibration changed the scores
    np.testing.assert_allclose(live, again, rtol=0, atol=TOLERANCE)


def test_batches_do_not_change_a_score(stand_in, bank):
    """Each sample is scored from the samples up to it, however they were batched (up to the
    float rounding of a batch's products: the 6th decimal)."""
    det = detector(stand_in, bank)
    embeddings = stream(stand_in)
    single = one_by_one(IncrementalScorer(det, FPS, WINDOW_S), embeddings)
    scorer = IncrementalScorer(det, FPS, WINDOW_S, max_batch=8)
    batched, start = [], 0
    for size in (1, 7, 30, 3, 50, 9):  # 30 and 50 exceed max_batch: split
        batched += [s.score for s in scorer.add(embeddings[start : start + size])]
        start += size
    np.testing.assert_allclose(batched, single, rtol=0, atol=2e-6)  # one unit of rounding


def test_live_scores_are_offline_scores_when_nothing_depends_on_other_samples(stand_in, bank):
    """Scene context given, no anchor, no refinement, no smoothing: a sample's score is its
    own, and live equals offline. What a live score lacks is the rest of the video."""
    embeddings = stream(stand_in)
    kw = {"context": "a park", "anchor": False, "refine": "none", "smoothing": "none"}
    det = detector(stand_in, bank, **kw)
    n = len(embeddings)
    offline = det.score_embeddings(
        VideoEmbeddings(embeddings, np.arange(n), np.arange(n) / FPS, n, FPS, n)
    )
    live = one_by_one(IncrementalScorer(det, FPS, WINDOW_S), embeddings)
    np.testing.assert_allclose(live, offline["scores"], rtol=0, atol=2e-6)
    det = detector(stand_in, bank)  # the default recipe sees the whole video offline
    offline = det.score_embeddings(
        VideoEmbeddings(embeddings, np.arange(n), np.arange(n) / FPS, n, FPS, n)
    )
    live = one_by_one(IncrementalScorer(det, FPS, WINDOW_S), embeddings)
    assert np.abs(live - offline["scores"]).max() > 0.01


@pytest.mark.parametrize("head", ["margin", "softmax", "knn-vote"])
@pytest.mark.parametrize("anchor", [True, False])
def test_every_scope_at_once_is_the_head_per_scope(stand_in, bank, head, anchor):
    det = detector(stand_in, bank, head=head, anchor=anchor)
    text = det.text_embeddings()
    embeddings = stream(stand_in, n=30)
    sims = embeddings @ text.descriptions.T
    # anchors above every description, below every one, and among them
    anchor_sims = np.r_[np.full(10, 0.99), np.full(10, -0.99), sims[20:].mean(axis=1)]
    anchor_sims = anchor_sims.astype(np.float32) if anchor else None
    heads = all_scopes(det.scoring, text, stand_in.logit_scale)
    got = heads.values(heads.pieces(sims), anchor_sims)
    for q, cols in enumerate(scope_masks(text)):
        scope_sims = sims[:, cols].astype(np.float64 if head == "softmax" else np.float32)
        want = scope_values(
            embeddings,
            text.descriptions[cols],
            text.anomalous[cols],
            text.classes[cols],
            det.scoring,
            stand_in.logit_scale,
            None if anchor_sims is None else anchor_sims.astype(scope_sims.dtype),
            scope_sims,
        )
        np.testing.assert_allclose(got[:, q], want, rtol=1e-9, atol=1e-9)


def test_a_run_names_what_fired_most_often_and_a_short_gap_does_not_end_it(stand_in, bank):
    text = detector(stand_in, bank).text_embeddings()
    run = _DescriptionRun(threshold=0.5, merge_gap=2)
    a, b = np.array([0, 1]), np.array([1, 0])
    sims = np.array([0.3, 0.2])
    assert run.update(0, 0.2, a, sims, text) == []
    first = run.update(1, 0.9, a, sims, text)
    assert [d["text"] for d in first] == [text.labels[0], text.labels[1]]
    assert first[0]["similarity"] == 0.3
    run.update(2, 0.1, b, sims, text)  # a gap of 2 samples: the run goes on, the gap counts
    run.update(3, 0.1, b, sims, text)
    merged = run.update(4, 0.9, b, sims, text)
    assert [d["text"] for d in merged] == [text.labels[1], text.labels[0]]  # b best 3 times
    for g in range(5, 8):  # 3 samples below: over
        run.update(g, 0.1, a, sims, text)
    assert [d["text"] for d in run.update(8, 0.9, b, sims, text)][0] == text.labels[1]
    assert run.counts == {1: 1}  # a new run


def test_the_context_window_of_the_detector_is_refused(stand_in, bank):
    det = detector(stand_in, bank, context_window_s=30.0)
    with pytest.raises(ValueError, match="context_window_s must be None"):
        IncrementalScorer(det, FPS, WINDOW_S)


def test_a_novelty_driven_score_says_so_and_names_no_description_that_did_not_fire(stand_in, bank):
    """With a calibration, footage unlike the camera's normal footage (people walking where
    they only ever sat; normal to the bank) is scored up by novelty alone: its explanation
    names novelty and its descriptions move to ``nearest_descriptions`` (as vad score's
    events, vad.scoring.explain)."""
    rng = np.random.default_rng(3)
    sit, walk = stand_in.encode_text(
        ["a person sitting on a bench", "people walking in a corridor"]
    )

    def noisy(v, n):
        x = v + 0.2 * rng.standard_normal((n, stand_in.dim)) / np.sqrt(stand_in.dim)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    memory = noisy(sit, 40)
    det = detector(stand_in, bank, anchor=False, refine="none", smoothing="none")
    det.sample_novelty = Calibration(
        about={"novelty": {"d50": 0.05, "d99": 0.2, "weight": 0.9}},
        memory=memory,
        memory_video=np.zeros(len(memory), int),
        memory_time=np.arange(len(memory)) / FPS,
        rate_per_hour=np.zeros(1001),
    ).sample_novelty
    scored = IncrementalScorer(det, FPS, WINDOW_S).add(np.r_[noisy(sit, 20), noisy(walk, 10)])
    assert all(s.explained is None and s.descriptions == [] for s in scored[:20])
    novel = scored[20:]
    assert all(s.score >= det.event_threshold for s in novel)
    for s in novel:
        assert s.explained["explanation"]["driver"] == "novelty"
        assert s.explained["label"].startswith("unlike this camera's normal footage (novelty")
        assert s.descriptions == [] and s.explained["nearest_descriptions"]

"""Scoring heads, the anchors (NOVA's warm-up anchor, the trimmed mean), NOVA's motion gate,
smoothing and in-video kNN refinement on constructed embeddings: each piece does what its
formula (docs/quality.md) says, and fixes the failure it exists for."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy.special import expit

from vad.cache import VideoEmbeddings
from vad.pipeline import Detector
from vad.scoring.context import Context
from vad.scoring.heads import (
    Scoring,
    knn_refine,
    knn_vote,
    margin_head,
    nova_anchor,
    top_fraction_mean,
    warmup_weights,
)
from vad.scoring.score import (
    mix_context,
    scene_anomaly_probabilities,
    score_samples,
    to_probabilities,
)
from vad.scoring.temporal import motion_gate, motion_strength, smooth, to_frame_scores
from vad.scoring.text import TextEmbeddings, warn_long_texts

DIM = 32


def unit(rng, n, dim=DIM):
    x = rng.standard_normal((n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def toward(base, other, weight):
    v = base + weight * other
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def flat_text(anom: np.ndarray, norm: np.ndarray, classes=None) -> TextEmbeddings:
    desc = np.concatenate([anom, norm]).astype(np.float32)
    n_a = len(anom)
    cls = np.full(len(desc), -1)
    if classes is not None:
        cls[:n_a] = classes
    return TextEmbeddings(
        scenes=np.zeros((0, desc.shape[1]), np.float32),
        descriptions=desc,
        anomalous=np.arange(len(desc)) < n_a,
        scene_index=np.full(len(desc), -1),
        labels=[f"d{i}" for i in range(len(desc))],
        classes=cls,
        class_names=tuple(f"c{c}" for c in sorted(set(cls[:n_a].tolist()))),
    )


def test_margin_head_ignores_duplicated_descriptions():
    rng = np.random.default_rng(0)
    frames, anom, norm = unit(rng, 20), unit(rng, 7), unit(rng, 5)
    anomalous = np.r_[np.ones(7, bool), np.zeros(5, bool)]
    classes = np.r_[np.zeros(7, int), -np.ones(5, int)]
    sims = frames @ np.concatenate([anom, norm]).T
    once = margin_head(sims, anomalous, classes)
    # every description three times (the bank written out three times)
    thrice = margin_head(np.tile(sims, 3), np.tile(anomalous, 3), np.tile(classes, 3))
    np.testing.assert_allclose(once, thrice, atol=1e-12)
    # only the normal side twice: the head compares sides, not their sizes
    twice_normal = margin_head(
        np.concatenate([sims, sims[:, 7:]], axis=1),
        np.r_[anomalous, np.zeros(5, bool)],
        np.r_[classes, -np.ones(5, int)],
    )
    np.testing.assert_allclose(once, twice_normal, atol=1e-12)


def test_softmax_head_does_change_with_duplicated_normals():
    """The contrast that motivates the margin head: log-sum-exp pooling is a max-like pool
    whose size bias the log-count term cancels only for exact duplicates of every member."""
    rng = np.random.default_rng(1)
    frames, anom, norm = unit(rng, 10), unit(rng, 3), unit(rng, 4)
    text = flat_text(anom, norm)
    grown = flat_text(anom, np.concatenate([norm, toward(norm[:1], norm[1:2], 0.3)]))
    p1 = scene_anomaly_probabilities(frames, text, 100.0)[1]
    p2 = scene_anomaly_probabilities(frames, grown, 100.0)[1]
    assert not np.allclose(p1, p2)


def test_margin_formula_matches_nova():
    sims = np.array([[0.40, 0.30, 0.20, 0.10, 0.25, 0.15]])
    anomalous = np.array([True, True, True, True, False, False])
    m = margin_head(sims, anomalous, np.r_[0, 0, 0, 0, -1, -1], alpha=0.9, tau=0.03)
    u_anom, u_norm = (0.40 + 0.30) / 2, 0.25
    assert m[0] == pytest.approx((0.9 * u_anom - u_norm) / 0.03)
    assert top_fraction_mean(sims[:, :4], 0.5)[0] == pytest.approx(u_anom)


def test_margin_head_takes_the_most_anomalous_class():
    sims = np.array([[0.5, 0.45, 0.1, 0.05, 0.1, 0.1, 0.2]])
    anomalous = np.array([True, True, True, True, False, False, False])
    per_class = margin_head(sims, anomalous, np.array([0, 0, 1, 1, -1, -1, -1]))
    pooled = margin_head(sims, anomalous, np.array([0, 0, 0, 0, -1, -1, -1]))
    assert per_class[0] > pooled[0]  # one class firing is not diluted by the others


@pytest.mark.parametrize("anchor", ["nova", "mean"])
def test_anchor_keeps_a_video_of_identical_frames_low(anchor):
    rng = np.random.default_rng(2)
    anom, norm = unit(rng, 6), unit(rng, 6)
    # a static scene that happens to look a bit like the anomalous descriptions
    pull = anom.mean(0) / np.linalg.norm(anom.mean(0))
    frame = toward(unit(rng, 1)[0], pull, 1.5)
    frames = np.repeat(frame[None], 40, axis=0)
    times = np.arange(40) / 2.0
    text = flat_text(anom, norm, classes=np.zeros(6, int))
    for head in ("margin", "knn-vote"):
        without = Scoring(head=head, anchor=False, refine="none")
        with_anchor = Scoring(head=head, anchor=anchor, refine="none")
        before = expit(score_samples(frames, times, text, None, without, 100.0))
        after = expit(score_samples(frames, times, text, None, with_anchor, 100.0))
        assert (before > 0.5).all(), head
        assert (after < 0.5).all(), head


def test_anchor_per_context_window_follows_the_scene():
    rng = np.random.default_rng(3)
    anom, norm = unit(rng, 4), unit(rng, 4)
    text = flat_text(anom, norm, classes=np.zeros(4, int))
    a, b = (toward(unit(rng, 1)[0], anom.mean(0), 0.6) for _ in range(2))
    frames = np.concatenate([np.repeat(a[None], 30, 0), np.repeat(b[None], 30, 0)])
    times = np.arange(60) / 2.0
    scoring = Scoring(anchor="mean", refine="none")
    whole = expit(score_samples(frames, times, text, None, scoring, 100.0))
    windowed = expit(score_samples(frames, times, text, None, scoring, 100.0, 5.0))
    # each half is the normal of its own window, so windowed anchors score both halves lower
    assert windowed[5] < whole[5] and windowed[55] < whole[55]


def long_event_video(event_share: float, n: int = 100, strength: float = 0.35, seed: int = 0):
    """A video whose last ``event_share`` of samples show an anomalous cue, with CLIP-like
    geometry (frame-text cosines about 0.2, within-video about 0.9, a modality gap), and a
    bank of 20 anomalous and 24 normal descriptions (NOVA's pool sizes)."""
    rng = np.random.default_rng(seed)
    dim = 64
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    gap_img, gap_txt, shared, cue, calm, look = basis[:6]
    rest = basis[6:]

    def noise(k, scale):
        return scale * (rng.standard_normal((k, len(rest))) @ rest) / np.sqrt(len(rest))

    anom = toward(0.8 * gap_txt + 0.4 * shared + 0.35 * cue + noise(20, 0.3), 0 * cue, 0)
    norm = toward(0.8 * gap_txt + 0.4 * shared + 0.35 * calm + noise(24, 0.3), 0 * cue, 0)
    text = flat_text(anom, norm, classes=np.zeros(20, int))
    frames = 0.7 * gap_img + 0.45 * shared + 0.4 * look + 0.05 * calm + noise(n, 0.25)
    start = n - int(round(event_share * n))
    frames[start:] += strength * cue
    frames = toward(frames, 0 * cue, 0).astype(np.float32)
    labels = np.arange(n) >= start
    return frames, np.arange(n) / 2.0, text, labels


def test_nova_anchor_keeps_a_long_event_above_the_normal_samples():
    """NOVA's anchor comes from the warm-up (the first 32 samples), so an event covering 70 %
    of the video does not become the video's normal. The trimmed mean of the whole video (the
    old anchor) is fitted to the event: under the knn-vote head (its cosine put on the text
    scale at the median sample, which is anomalous here) most of the event drops below 0.5."""
    frames, times, text, labels = long_event_video(0.7)
    for head in ("margin", "knn-vote", "softmax"):
        scoring = Scoring(head=head, anchor="nova", refine="none")
        values = score_samples(frames, times, text, None, scoring, 100.0)
        p = expit(values) if scoring.margin_values else values
        assert p[labels].min() > p[~labels].max(), head
        assert (p[labels] > 0.5).all() and (p[~labels] < 0.5).all(), head
    old = Scoring(head="knn-vote", anchor="mean", refine="none")
    p = expit(score_samples(frames, times, text, None, old, 100.0))
    assert (p[labels] > 0.5).mean() < 0.5  # the failure the warm-up anchor fixes


def test_warmup_weights_keep_an_event_inside_the_warmup_out_of_the_anchor():
    frames, times, text, labels = long_event_video(0.0)
    frames = frames.copy()
    event = toward(frames[5:12], text.descriptions[:20].mean(0), 2.0)  # 7 anomalous samples
    frames[5:12] = event
    scoring = Scoring(anchor="nova", refine="none")
    prelim = expit(score_samples(frames[:32], times[:32], text, None, Scoring(anchor="none"), 100))
    assert prelim[5:12].min() > prelim[12:32].max()
    weights = warmup_weights(prelim, scoring.anchor_temperature)
    assert weights[5:12].sum() < 7 / 32 / 2  # the event weighs less than half its share
    normal = np.r_[frames[:5], frames[12:32]].mean(0)
    weighted = nova_anchor(frames[:32], prelim)
    plain = frames[:32].mean(0) / np.linalg.norm(frames[:32].mean(0))
    assert weighted @ normal > plain @ normal


def test_a_given_warmup_anchor_is_used_for_every_later_window():
    """A stream builds the anchor once from its warm-up and scores later windows with it:
    the same values as scoring the whole stream at once."""
    from vad.scoring.score import warmup_anchor

    frames, times, text, _ = long_event_video(0.5, n=80)
    scoring = Scoring(anchor="nova", refine="none")
    whole = score_samples(frames, times, text, None, scoring, 100.0)
    anchor = warmup_anchor(frames[:32], times[:32], text, None, scoring, 100.0)
    tail = score_samples(frames[50:], times[50:], text, None, scoring, 100.0, anchor=anchor)
    np.testing.assert_allclose(tail, whole[50:], rtol=1e-5)  # float32 products
    own = score_samples(frames[50:], times[50:], text, None, scoring, 100.0)
    assert not np.allclose(own, whole[50:])  # the tail's own first samples are the event


def test_components_hold_the_preliminary_score_and_the_gate():
    frames, times, text, _ = long_event_video(0.5, n=60)
    scoring = Scoring(anchor="nova", motion_gate="nova", refine="none")
    parts: dict = {}
    values = score_samples(frames, times, text, None, scoring, 100.0, components=parts)
    raw, _ = to_probabilities(values, times, scoring, 1.0, "gaussian", frames, None, parts)
    plain = score_samples(frames, times, text, None, Scoring(anchor="none"), 100.0)
    np.testing.assert_allclose(parts["preliminary"], expit(plain), rtol=1e-6)
    np.testing.assert_allclose(raw, parts["probability"] * parts["motion_gate"])
    assert len(parts["anchor"].weights) == 32 and parts["anchor_similarity"].shape == (60,)


# -- NOVA's motion gate ------------------------------------------------------------------------


def test_motion_gate_lowers_a_still_scene_and_keeps_a_moving_one():
    rng = np.random.default_rng(12)
    n = 40
    still = np.repeat(unit(rng, 1), n, axis=0)
    moving = toward(still, rng.standard_normal((n, DIM)), 0.8)  # a new view every sample
    times = np.arange(n) / 2.0
    values = np.full(n, 2.0)  # the same margin everywhere: only the motion differs
    gated = Scoring(motion_gate="nova")
    p_still, _ = to_probabilities(values, times, gated, 0.0, "none", still)
    p_moving, _ = to_probabilities(values, times, gated, 0.0, "none", moving)
    p_off, _ = to_probabilities(values, times, Scoring(), 0.0, "none", still)
    np.testing.assert_allclose(p_off, expit(2.0))
    np.testing.assert_allclose(p_still, expit(2.0) * expit(-0.4))  # no motion: x 0.40
    assert (p_moving[1:-1] > p_still[1:-1] + 0.1).all()


def test_motion_gate_is_restated_for_the_sampling_rate():
    """One diffusing scene (embedding distance growing in proportion to time, the model the
    restatement assumes) sampled at 4 and at 2 fps gives the same gate; unscaled it does not."""
    rng = np.random.default_rng(13)
    dim, n = 256, 2400
    walk = np.empty((n, dim))
    walk[0] = unit(rng, 1, dim)[0]
    for i in range(1, n):  # a random walk on the sphere: 1 - cos grows with the lag
        step = walk[i - 1] + 0.16 * rng.standard_normal(dim) / np.sqrt(dim)
        walk[i] = step / np.linalg.norm(step)
    t4 = np.arange(n) / 4.0
    fast_m, fast_lag = motion_strength(walk, t4)
    slow_m, slow_lag = motion_strength(walk[::2], t4[::2])
    assert 1.8 < slow_m[1:-1].mean() / fast_m[1:-1].mean() < 2.1  # twice the lag
    fast, slow = motion_gate(fast_m, fast_lag), motion_gate(slow_m, slow_lag)
    assert abs(slow[1:-1].mean() - fast[1:-1].mean()) < 0.005
    fast_raw = motion_gate(fast_m, fast_lag, reference_lag_s=None)
    slow_raw = motion_gate(slow_m, slow_lag, reference_lag_s=None)
    assert slow_raw[1:-1].mean() - fast_raw[1:-1].mean() > 0.05


def test_knn_refinement_removes_an_isolated_spike_and_keeps_an_event():
    rng = np.random.default_rng(4)
    background, event = unit(rng, 2)
    n = 80
    emb = np.repeat(background[None], n, axis=0) + 0.01 * rng.standard_normal((n, DIM))
    emb[40:52] = event + 0.01 * rng.standard_normal((12, DIM))  # a 6 s event at 2 fps
    values = np.full(n, -3.0)
    values[40:52] = 3.0
    values[10] = 3.0  # a one-sample spike on a frame that looks like all the others
    times = np.arange(n) / 2.0
    refined = knn_refine(values, emb, k=10, times=times, min_gap_s=2.0)
    assert refined[10] < -2.0
    assert (refined[40:52] > 2.5).all()
    assert (refined[:10] < -2.0).all()


def test_knn_refinement_finds_similar_moments_not_the_next_second():
    """A sample whose neighbours in time look alike (the next second) and which recurs later:
    with the gap its value follows the later similar moment, without it the next second."""
    rng = np.random.default_rng(14)
    n = 60
    emb = unit(rng, n)
    moment = unit(rng, 1)[0]
    emb[20:23] = toward(moment, rng.standard_normal((3, DIM)), 0.05)  # 10.0 - 11.0 s
    emb[45:50] = toward(moment, rng.standard_normal((5, DIM)), 0.10)  # 22.5 - 24.5 s
    values = np.zeros(n)
    values[20:23] = 4.0
    values[45:50] = -4.0
    times = np.arange(n) / 2.0
    near = knn_refine(values, emb, k=5, times=times, min_gap_s=0.0)
    far = knn_refine(values, emb, k=5, times=times, min_gap_s=2.0)
    assert near[21] > 1.5  # its own second decides
    assert far[21] < 0.0  # the similar moment 12 s later decides


def test_knn_vote_follows_the_labels_of_the_nearest_memory():
    rng = np.random.default_rng(5)
    anom, norm = unit(rng, 30), unit(rng, 30)
    memory = np.concatenate([anom, norm])
    labels = np.r_[np.ones(30, bool), np.zeros(30, bool)]
    near_anom = toward(anom[:5], rng.standard_normal((5, DIM)), 0.1)
    near_norm = toward(norm[:5], rng.standard_normal((5, DIM)), 0.1)
    assert (knn_vote(near_anom, memory, labels) > 0.5).all()
    assert (knn_vote(near_norm, memory, labels) < 0.5).all()
    # the 0.95 scale penalizes anomalous entries: an exact tie goes to normal
    tie = toward(anom[0], norm[0], 1.0)[None]
    assert knn_vote(tie, memory, labels, k=2)[0] < 0.5


def test_knn_vote_in_chunks_equals_all_at_once():
    rng = np.random.default_rng(6)
    frames, memory = unit(rng, 50), unit(rng, 3000)
    labels = rng.random(3000) < 0.5
    whole = knn_vote(frames, memory, labels, chunk=1000)
    chunked = knn_vote(frames, memory, labels, chunk=7)
    # BLAS may sum a float32 product in another order for another block shape (OpenBLAS
    # does): a cosine moves by ~1e-7, and /temperature (0.01) turns that into ~1e-5 on a vote.
    # A chunking bug (rows mixed across blocks) moves votes by tenths.
    np.testing.assert_allclose(whole, chunked, atol=2e-5)


# -- the detector: the original recipe back, the recipe recorded, what is smoothed ---------


def video(stand_in, texts, fps=2.0) -> VideoEmbeddings:
    emb = stand_in.encode_text(texts)
    n = len(texts)
    return VideoEmbeddings(emb, np.arange(n) * 5, np.arange(n) / fps, n * 5, fps * 5)


TEXTS = ["two people exchanging punches"] * 3 + ["people walking along a corridor"] * 9


@pytest.mark.parametrize("context", ["none", "auto"])
def test_softmax_no_anchor_no_refine_is_the_original_recipe(stand_in, context):
    det = Detector(
        context=context,
        encoder=stand_in,
        use_cache=False,
        head="softmax",
        anchor=False,
        refine="none",
        window_s=1.0,
    )
    emb = video(stand_in, TEXTS)
    result = det.score_embeddings(emb)
    # the original pipeline, step by step
    text = det.text_embeddings()
    ctx: Context = det.infer_context(emb)
    per_scene, free = scene_anomaly_probabilities(emb.embeddings, text, stand_in.logit_scale)
    raw = mix_context(per_scene, free, ctx.posterior)
    frames = to_frame_scores(emb.times, smooth(raw, emb.times, 1.0), emb.num_frames, emb.fps)
    expected = np.round(np.clip(frames, 0, 1), 6)
    assert result["scores"] == expected.tolist()
    assert result["samples"]["scores"] == np.round(raw, 6).tolist()
    assert result["scoring"]["head"] == "softmax"
    assert result["scoring"]["anchor"] == "none" and result["scoring"]["refine"] == "none"


@pytest.mark.parametrize("gate", ["off", "nova"])
def test_recipe_is_recorded_and_smooths_the_final_probability(stand_in, gate):
    det = Detector(
        context="none", encoder=stand_in, use_cache=False, window_s=1.0, motion_gate=gate
    )
    emb = video(stand_in, TEXTS)
    result = det.score_embeddings(emb)
    recorded = result["scoring"]
    assert (recorded["head"], recorded["anchor"], recorded["refine"]) == ("margin", "nova", "none")
    assert recorded["motion_gate"] == gate and recorded["smoothed"] == "probability"
    assert recorded["warmup_samples"] == 32 and recorded["anchor_temperature"] == 0.3
    values = score_samples(
        emb.embeddings, emb.times, det.text_embeddings(), None, det.scoring, 100.0
    )
    prob = expit(values)
    if gate == "nova":
        assert (recorded["motion_threshold"], recorded["motion_slope"]) == (0.02, 20.0)
        prob = prob * motion_gate(*motion_strength(emb.embeddings, emb.times))
    frames = to_frame_scores(emb.times, smooth(prob, emb.times, 1.0), emb.num_frames, emb.fps)
    assert result["scores"] == np.round(np.clip(frames, 0, 1), 6).tolist()


@pytest.mark.parametrize("head", ["margin", "knn-vote", "softmax"])
def test_the_calibrated_recipe_is_the_evaluated_one(stand_in, head):
    """--calibration adds a novelty term to the probabilities; with a novelty of 0 everywhere
    the scores are those of the run without it (the margin used to be smoothed only without a
    calibration, so the calibrated recipe was not the evaluated one)."""
    det = Detector(context="none", encoder=stand_in, use_cache=False, head=head, window_s=1.0)
    det.motion_gate = "nova"
    emb = video(stand_in, TEXTS)
    plain = det.score_embeddings(emb)
    det.sample_novelty = lambda emb: (np.zeros(len(emb.times)), 0.5)
    assert det.score_embeddings(emb)["scores"] == plain["scores"]


def test_unknown_head_or_refinement_is_refused():
    with pytest.raises(ValueError, match="unknown scoring head 'cosine'"):
        Scoring(head="cosine")
    with pytest.raises(ValueError, match="unknown refinement"):
        Scoring(refine="median")


def test_config_and_flags_select_the_recipe(tmp_path):
    from vad.cli import build_parser
    from vad.cli.build import detector_settings

    cfg = tmp_path / "c.yaml"
    cfg.write_text("head: knn-vote\nanchor: false\nrefine: none\nmotion_gate: true\n")

    def recipe(*flags):
        args = build_parser().parse_args(["score", "x.mp4", "--config", str(cfg), *flags])
        det = Detector(**detector_settings(args), encoder=object())
        return det.head, det.anchor, det.refine, det.motion_gate

    assert recipe() == ("knn-vote", "none", "none", "nova")  # true/false of older configs
    flags = ("--head", "margin", "--anchor", "--refine", "knn", "--no-motion-gate")
    assert recipe(*flags) == ("margin", "nova", "knn", "off")
    assert recipe("--anchor", "mean", "--motion-gate", "unscaled")[1::2] == ("mean", "unscaled")
    assert recipe("--no-anchor")[1] == "none"
    cfg.write_text("anchor: true\n")
    assert recipe()[1] == "nova"


@pytest.mark.parametrize(
    "text,key",
    [
        ("anchor: yes please\n", "anchor"),
        ("head: cosine\n", "head"),
        ("refine: 3\n", "refine"),
        ("motion_gate: sometimes\n", "motion_gate"),
        ("motion_gate: 1\n", "motion_gate"),
    ],
)
def test_bad_scoring_setting_in_a_config_names_file_and_key(tmp_path, text, key):
    from vad.config import ConfigError, load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=f"{cfg}: key '{key}'"):
        load_config(cfg)


# -- encoders of item 6: names resolve, contexts known, long texts reported once ---------------


@pytest.mark.parametrize(
    "model,context",
    [("PE-Core-L-14-336", 32), ("ViT-B-16-SigLIP2", 64), ("MobileCLIP2-S0", 77)],
)
def test_new_encoder_configs_resolve(model, context):
    import open_clip

    assert model in open_clip.list_models()
    assert open_clip.get_model_config(model)["text_cfg"].get("context_length", 77) == context


@pytest.mark.parametrize("model,context", [("PE-Core-L-14-336", 32), ("MobileCLIP2-S0", 77)])
def test_tokenizers_load_without_weights(model, context):
    from vad.scoring.promptlint import model_tokenizer

    tokenizer, got, note = model_tokenizer(model)
    assert got == context and note == ""
    assert tokenizer(["a person"]).shape == (1, context)


def test_text_cache_written_before_classes_still_loads(tmp_path):
    old = tmp_path / "old.npz"
    np.savez(
        old,
        scenes=np.zeros((1, 4), np.float32),
        descriptions=np.eye(4, dtype=np.float32)[:2],
        anomalous=np.array([False, True]),
        scene_index=np.array([-1, -1]),
        labels=np.array(["walk", "fight"]),
    )
    text = TextEmbeddings.load(old)
    assert text.classes.tolist() == [-1, -1] and text.class_names == ()


def test_long_texts_are_reported_once_not_silently_cut(stand_in, caplog):
    from vad.model.prompts import PromptBank
    from vad.scoring.promptlint import model_tokenizer

    tokenizer, _, _ = model_tokenizer("PE-Core-L-14-336")
    stand_in.tokenizer = tokenizer
    bank = PromptBank.from_dict(
        {
            "templates": ["a frame of {action} {place}."],
            "global_templates": ["a frame of {action}."],
            "scene_templates": ["a view of {scene}."],
            "global": {
                "normal": ["people walking", "a person " + "very " * 40 + "slowly walking"],
                "anomalous": ["people fighting"],
            },
            "scenes": [
                {"name": "x", "scene": "x", "place": "in x", "normal": ["a"], "anomalous": []}
            ],
        }
    )
    with caplog.at_level(logging.WARNING, logger="vad"):
        assert warn_long_texts(bank, stand_in) == 1
    lines = [r for r in caplog.records if "longer than the model's text context" in r.message]
    assert len(lines) == 1 and "32 tokens" in lines[0].message


def test_rescoring_with_a_kept_neighbour_graph_gives_identical_scores():
    rng = np.random.default_rng(9)
    n = 60
    frames = unit(rng, n).astype(np.float32)
    frames[20:30] = toward(frames[20:30], frames[0], 3.0)  # near-duplicates: ties in the graph
    times = np.arange(n) / 2.0
    text = flat_text(unit(rng, 6), unit(rng, 6), classes=np.array([0, 0, 0, 1, 1, 1]))
    memo: dict = {}
    recipes = [
        Scoring(refine="knn", anchor="mean"),
        Scoring(head="softmax", refine="knn", anchor="mean"),
        Scoring(head="knn-vote", refine="knn", anchor="mean"),
        Scoring(refine="knn", refine_k=4),
        Scoring(refine="knn", motion_gate="nova"),
    ]
    for scoring in recipes * 2:  # the second round reads everything from the memo
        fresh = score_samples(frames, times, text, None, scoring, 100.0)
        kept = score_samples(frames, times, text, None, scoring, 100.0, memo=memo)
        assert np.array_equal(fresh, kept)
    assert {key for key in memo} == {("anchor", None), ("knn", 10, 2.0), ("knn", 4, 2.0)}
    graph = memo[("knn", 10, 2.0)][1]
    score_samples(frames, times, text, None, Scoring(refine="knn"), 100.0, memo=memo)
    assert memo[("knn", 10, 2.0)][1] is graph  # reused, not recomputed
    # other embeddings (even equal ones) never pick up this video's graph
    other = frames[::-1].copy()
    assert np.array_equal(
        score_samples(other, times, text, None, Scoring(), 100.0, memo=memo),
        score_samples(other, times, text, None, Scoring(), 100.0),
    )


def test_detector_rescoring_reuses_the_graph_kept_with_the_embeddings(stand_in):
    emb = video(stand_in, TEXTS)
    fresh = video(stand_in, TEXTS)
    for head in ("margin", "softmax", "knn-vote"):
        det = Detector(context="none", encoder=stand_in, use_cache=False, window_s=1.0, head=head)
        det.refine = "knn"
        assert det.score_embeddings(emb)["scores"] == det.score_embeddings(fresh)["scores"]
        fresh.derived.clear()
    assert ("knn", 10, 2.0) in emb.derived  # 12 samples: k = 10


def test_margin_head_is_the_max_over_classes_of_each_class_margin():
    rng = np.random.default_rng(10)
    sims = rng.uniform(-0.2, 0.5, (7, 14))
    # classes 0 and 1 have equal column counts (scored together), class 2 differs
    anomalous = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], bool)
    classes = np.array([0, 0, 1, 1, 2, 2, 2, 0, 1, 2, 2, -1, -1, -1])
    anchor = rng.uniform(0.8, 1.0, 7)
    expected = np.full(7, -np.inf)
    for c in (0, 1, 2):
        normal = np.c_[sims[:, ~anomalous & ((classes == c) | (classes < 0))], anchor]
        u_plus = top_fraction_mean(sims[:, anomalous & (classes == c)])
        expected = np.maximum(expected, (0.9 * u_plus - top_fraction_mean(normal)) / 0.03)
    got = margin_head(sims, anomalous, classes, anchor)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_logsumexp_rows_is_scipys_logsumexp_exactly():
    from scipy.special import logsumexp

    from vad.scoring.heads import logsumexp_rows

    rng = np.random.default_rng(11)
    a = 100 * rng.uniform(-0.3, 0.4, (50, 37))
    a[3] = a[3, 0]  # a row of equal values: every element is the maximum
    a[4, :5] = a[4].max()  # tied maxima
    assert np.array_equal(logsumexp_rows(a), logsumexp(a, axis=1))
    b = a.copy()
    b[7, 2] = np.inf  # non-finite rows fall back to scipy
    assert np.array_equal(logsumexp_rows(b), logsumexp(b, axis=1), equal_nan=True)


def test_score_with_config_nova_records_the_whole_recipe(tiny_model, tmp_path):
    """`vad score --config nova` (the reproduction) writes every piece of NOVA's recipe into
    the result: encoder, bank, context, sampling, smoothing and the scoring constants."""
    import json

    import cv2
    from conftest import run_vad

    video_path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (32, 24))
    rng = np.random.default_rng(15)
    for _ in range(60):
        writer.write(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    writer.release()
    out = tmp_path / "out"
    argv = ["score", str(video_path), "--config", "nova", "--model", tiny_model]
    rc, _, err = run_vad([*argv, "--out", str(out), "--cache-dir", str(tmp_path / "c")])
    assert rc == 0, err
    result = json.loads((out / "clip.json").read_text())
    assert (result["prompts"], result["context"]["mode"], result["sample_fps"]) == (
        "ucf-crime",
        "none",
        1.875,
    )
    assert result["smoothing"] == {"method": "gaussian", "window_s": 1.667}
    assert result["scoring"] == {
        "head": "margin",
        "anchor": "nova",
        "refine": "none",
        "motion_gate": "nova",
        "alpha": 0.9,
        "tau": 0.03,
        "top_fraction": 0.5,
        "warmup_samples": 32,
        "anchor_temperature": 0.3,
        "motion_threshold": 0.02,
        "motion_slope": 20.0,
        "motion_reference_lag_s": 0.066667,
        "repulsive_templates": True,
        "smoothed": "probability",
    }

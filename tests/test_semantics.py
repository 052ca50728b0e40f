"""Scoring semantics with a stand-in encoder whose frame embeddings equal the text embeddings of
chosen descriptions: what the user relies on - anomalous beats normal, and context decides."""

from __future__ import annotations

import numpy as np
import pytest

from vad.cache import VideoEmbeddings
from vad.model.prompts import PromptBank
from vad.pipeline import Detector


def frames_like(encoder, texts: list[str], fps: float = 2.0) -> VideoEmbeddings:
    """A 'video' whose sampled frames embed exactly as ``texts`` (one sample per text)."""
    emb = encoder.encode_text(texts)
    n = len(texts)
    return VideoEmbeddings(
        embeddings=emb,
        indices=np.arange(n) * 5,
        times=np.arange(n) / fps,
        num_frames=n * 5,
        fps=fps * 5,
    )


def detector(stand_in, context: str, prompts="default", **kw) -> Detector:
    """Context semantics per frame: the anchor and in-video refinement (which compare frames
    of one video with each other; tests/test_heads.py) are off unless asked for."""
    kw.setdefault("smoothing", "none")
    kw.setdefault("head", "softmax")
    kw.setdefault("anchor", False)
    kw.setdefault("refine", "none")
    return Detector(context=context, prompts=prompts, encoder=stand_in, use_cache=False, **kw)


def sample_scores(det: Detector, video: VideoEmbeddings) -> np.ndarray:
    return np.array(det.score_embeddings(video)["samples"]["scores"])


FIGHT = "two people exchanging punches"
CALM = "people walking along a corridor"
SMOKER = "a man smoking a cigarette"  # no "person": the stand-in weighs shared words


@pytest.mark.parametrize("head", ["softmax", "margin", "knn-vote"])
@pytest.mark.parametrize("context", ["none", "auto", "a bank vault"])
def test_anomalous_description_outscores_normal(stand_in, context, head):
    video = frames_like(stand_in, [FIGHT, CALM])
    fight, walk = sample_scores(detector(stand_in, context, head=head), video)
    assert fight > 0.5 > walk


@pytest.mark.parametrize("head", ["softmax"])
def test_smoking_is_normal_on_a_street_and_anomalous_at_a_fuel_pump(stand_in, head):
    video = frames_like(stand_in, [SMOKER] * 4)
    on_street = sample_scores(detector(stand_in, "a city street", head=head), video)
    at_pump = sample_scores(detector(stand_in, "a gas station", head=head), video)
    assert (on_street < 0.5).all()
    assert (at_pump > 0.5).all()
    assert at_pump.min() - on_street.max() > 0.3


def test_context_none_ignores_the_scene(stand_in):
    bank = PromptBank.from_yaml("default")
    only_vault = PromptBank.from_dict(
        {
            "templates": bank.templates,
            "global_templates": bank.global_templates,
            "scene_templates": bank.scene_templates,
            "version": 2,
            "global": {
                "normal": bank.global_normal,
                "anomalous": {"any": bank.global_anomalous},
            },
            "scenes": [
                {
                    "name": "bank vault",
                    "scene": "a bank vault",
                    "place": "in a bank vault",
                    "normal": ["a bank employee counting money"],
                    "anomalous": ["a person drilling into a safe"],
                }
            ],
        }
    )
    video = frames_like(stand_in, ["a person drilling into a safe", FIGHT, "a person sitting"])
    full = detector(stand_in, "none")
    tiny = detector(stand_in, "none")
    tiny.bank = only_vault
    np.testing.assert_allclose(sample_scores(full, video), sample_scores(tiny, video), atol=1e-9)
    summary = full.score_embeddings(video)["context"]
    assert summary["mode"] == "none" and summary["scene"] is None


def test_auto_context_finds_the_scene_and_uses_it(stand_in):
    bank = PromptBank.from_yaml("default")
    pump = bank.find_scene("gas station")
    street = bank.find_scene("street")
    scene_of = {s: stand_in.encode_text(bank.scene_texts(s)).mean(0) for s in (pump, street)}
    runner = stand_in.encode_text([SMOKER])[0]

    def video_in(scene) -> VideoEmbeddings:
        emb = np.stack([scene_of[scene] * 2.0 + runner] * 6)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        return VideoEmbeddings(emb, np.arange(6), np.arange(6) / 2.0, 6, 2.0)

    det = detector(stand_in, "auto")
    at_pump = det.score_embeddings(video_in(pump))
    on_street = det.score_embeddings(video_in(street))
    assert at_pump["context"]["scene"] == "gas station"
    assert on_street["context"]["scene"] == "street"
    assert np.mean(at_pump["scores"]) > np.mean(on_street["scores"]) + 0.2


def test_free_text_context_maps_to_the_closest_scenes(stand_in):
    det = detector(stand_in, "the vault of a bank")  # not a name or alias
    result = det.score_embeddings(frames_like(stand_in, [SMOKER]))
    assert result["context"]["mode"] == "fixed"
    assert result["context"]["scene"] == "bank vault"
    assert result["context"]["text"] == "the vault of a bank"


def test_events_name_the_descriptions_that_fired(stand_in):
    texts = ["a person sitting"] * 6 + [FIGHT] * 6 + ["a person sitting"] * 6
    result = detector(stand_in, "none", event_threshold=0.5).score_embeddings(
        frames_like(stand_in, texts)
    )
    assert len(result["events"]) == 1
    event = result["events"][0]
    assert event["descriptions"][0]["text"] == FIGHT
    assert 2.5 <= event["start_s"] <= 3.0 and 5.5 <= event["end_s"] <= 6.5
    assert event["peak_score"] > 0.5


def test_text_embeddings_are_computed_once_per_bank(stand_in):
    det = detector(stand_in, "auto")
    video = frames_like(stand_in, [SMOKER, CALM])
    det.score_embeddings(video)
    calls = stand_in.text_calls
    det.score_embeddings(video)
    det.score_embeddings(video)
    assert stand_in.text_calls == calls


def test_events_name_the_class_of_a_class_grouped_bank(stand_in):
    punch = "two students punching each other in a school corridor"
    texts = ["an empty school hallway with closed lockers"] * 6 + [punch] * 6
    texts += ["an empty school hallway with closed lockers"] * 6
    det = detector(stand_in, "none", prompts="ucf-crime", event_threshold=0.5)
    event = det.score_embeddings(frames_like(stand_in, texts))["events"][0]
    assert event["descriptions"][0] == {
        "text": punch,
        "similarity": event["descriptions"][0]["similarity"],
        "class": "fighting",
    }


def test_a_loaded_bank_scores_as_its_file_does(stand_in):
    """``Detector(prompts=PromptBank)`` (an edited bank, or one a worker node cannot read from
    disk) scores exactly as the same bank named by its file; anything else is a TypeError."""
    video = frames_like(stand_in, [FIGHT, CALM, SMOKER])
    from_file = sample_scores(detector(stand_in, "auto"), video)
    loaded = PromptBank.from_yaml("default")
    np.testing.assert_array_equal(
        sample_scores(detector(stand_in, "auto", loaded), video), from_file
    )
    with pytest.raises(TypeError, match="prompts must be .* PromptBank; got dict"):
        detector(stand_in, "auto", {"name": "not a bank"})

"""Events say what drove them: a frame the prompt bank finds anomalous is labelled with the
description that fired (with its similarity); one that is only unlike the camera's normal
footage says so, with its novelty, and never names a description that did not fire."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vad.cache import VideoEmbeddings
from vad.pipeline import Detector
from vad.scoring.calibration import apply_calibration, calibrate
from vad.scoring.explain import ScoreComponents, describe_event, explain_peak

FIGHT = "two people exchanging punches"
CALM = ["people walking along a corridor", "a person sitting on a bench", "an empty corridor"]
UNSEEN = "a cleaner mopping the floor"  # normal for the bank, never shown by this camera
BANK = f"""
version: 2
name: explain-test
templates: ["a surveillance camera frame of {{action}} {{place}}."]
global_templates: ["a surveillance camera frame of {{action}}."]
scene_templates: ["a surveillance camera view of {{scene}}."]
global:
  normal:
    shared: [{", ".join(repr(t) for t in [*CALM, UNSEEN])}]
  anomalous:
    fighting: ["{FIGHT}", "a group brawling and kicking each other"]
    vandalism: ["a person smashing a window with a bat"]
scenes:
  - {{name: office, scene: an office, place: in an office,
      normal: [a person typing at a desk], anomalous: [a person throwing a chair]}}
"""


def footage(encoder, texts: list[str], fps: float = 2.0) -> VideoEmbeddings:
    emb = encoder.encode_text(texts)
    n = len(texts)
    return VideoEmbeddings(emb, np.arange(n), np.arange(n) / fps, n, fps)


@pytest.fixture()
def calibrated(stand_in, tmp_path):
    """A detector with the default recipe, calibrated on a camera that shows calm scenes (a
    bank of the test's own, so the geometry does not move with the shipped banks)."""
    bank = tmp_path / "bank.yaml"
    bank.write_text(BANK)
    det = Detector(context="none", encoder=stand_in, use_cache=False, prompts=bank)
    normal = {f"cam{i}.mp4": footage(stand_in, CALM * 30) for i in range(2)}
    det.embed = lambda path: normal[str(path)]
    apply_calibration(det, calibrate(det, list(normal), memory_size=64))
    return det


def test_an_unseen_scene_is_explained_as_novelty_not_as_a_description(stand_in, calibrated):
    video = footage(stand_in, CALM * 6 + [UNSEEN] * 12 + CALM * 6)
    result = calibrated.score_embeddings(video)
    (event,) = result["events"]
    explanation = event["explanation"]
    assert explanation["driver"] == "novelty"
    novelty = explanation["components"]["novelty"]
    assert novelty > 0.5
    assert event["label"] == f"unlike this camera's normal footage (novelty {novelty:.2f})"
    assert event["descriptions"] == []  # none fired
    nearest = event["nearest_descriptions"]
    assert nearest and all(isinstance(d["similarity"], float) for d in nearest)
    # the peak without novelty is below the threshold; with it, above
    assert explanation["without"]["novelty"] < result["event_threshold"] <= event["peak_score"]
    assert explanation["components"]["semantic"] < result["event_threshold"]


def test_an_anomalous_description_is_explained_by_it_with_its_similarity(stand_in, calibrated):
    video = footage(stand_in, CALM * 6 + [FIGHT] * 12 + CALM * 6)
    result = calibrated.score_embeddings(video)
    (event,) = result["events"]
    assert event["explanation"]["driver"] == "semantic"
    top = event["descriptions"][0]
    assert top["text"] == FIGHT
    assert event["label"] == f"{FIGHT} ({top['similarity']:.2f})"
    # the prompt bank reaches the threshold on its own; novelty added to it
    assert event["explanation"]["without"]["novelty"] >= result["event_threshold"]
    assert "nearest_descriptions" not in event


def test_the_anchor_effect_is_recorded_and_can_drive_an_event():
    times = np.arange(20) / 2.0
    semantic = np.full(20, 0.3)
    semantic[8:12] = 0.7
    anchor_free = semantic - 0.3  # without the anchor the peak is 0.4, below 0.5
    parts = ScoreComponents(semantic=semantic, anchor_free=anchor_free)
    out = explain_peak(parts, times, 5.0, 0.7, 0.5, smooth=lambda v: v)
    assert out["driver"] == "anchor"
    assert out["components"]["anchor"] == pytest.approx(0.3)
    assert out["without"]["anchor"] == pytest.approx(0.4)


def test_a_motion_gate_factor_is_reported_and_a_gate_that_only_damps_never_drives():
    times = np.arange(20) / 2.0
    semantic = np.full(20, 0.9)
    gate = np.full(20, 0.8)  # the recipe's gate factor, given per sample
    parts = ScoreComponents(semantic=semantic, motion_gate=gate)
    peak = float(parts.score()[10])
    out = explain_peak(parts, times, 5.0, peak, 0.5, smooth=lambda v: v)
    assert out["components"]["motion_gate"] == pytest.approx(0.8)
    assert out["without"]["motion"] == pytest.approx(0.9)  # the peak without the gate
    assert out["driver"] == "semantic"
    event = describe_event({"descriptions": [{"text": FIGHT, "similarity": 0.31}]}, out)
    assert event["label"] == f"{FIGHT} (0.31)"


def test_parts_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match="novelty has shape"):
        ScoreComponents(semantic=np.zeros(3), novelty=np.zeros(4))


def test_another_cameras_calibration_explains_megamind_as_novelty(tmp_path, videos_dir, tiny_model):
    """The issue's case: calibrated on one camera (vtest.avi), Megamind.avi became one event
    labelled with a description and context "atm booth (1.00)"; novelty drove it."""
    from conftest import run_vad

    cam = tmp_path / "vtest-camera.json"
    common = ["--model", tiny_model, "--sample-fps", "1"]
    rc, _, err = run_vad(["calibrate", str(videos_dir / "vtest.avi"), "--out", str(cam), *common])
    assert rc == 0, err
    out = tmp_path / "out"
    video = videos_dir / "Megamind.avi"
    rc, _, err = run_vad(["score", str(video), "--out", str(out), "--calibration", str(cam),
                          *common])  # fmt: skip
    assert rc == 0, err
    result = json.loads((out / "Megamind.json").read_text())
    assert result["events"], "the other camera's calibration should raise an event"
    for event in result["events"]:
        assert event["explanation"]["driver"] == "novelty"
        assert event["label"].startswith("unlike this camera's normal footage (novelty ")
        assert event["descriptions"] == []

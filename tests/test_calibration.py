"""Calibration per camera: the novelty term raises what the camera never showed, the threshold
meets the target false-alarm rate on normal footage, files are JSON + npz (no pickle), and
results record the calibration used."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vad.cache import VideoEmbeddings
from vad.pipeline import Detector
from vad.scoring.calibration import (
    THRESHOLDS,
    Calibration,
    CalibrationError,
    apply_calibration,
    calibrate,
    combine,
    load_calibration,
    save_calibration,
)


def frames_like(encoder, texts: list[str], fps: float = 2.0) -> VideoEmbeddings:
    emb = encoder.encode_text(texts)
    n = len(texts)
    return VideoEmbeddings(emb, np.arange(n), np.arange(n) / fps, n, fps)


def stand_in_detector(stand_in, videos: dict) -> Detector:
    det = Detector(context="none", encoder=stand_in, use_cache=False, smoothing="none")
    det.embed = lambda path: videos[str(path)]  # the "footage" is given as embeddings
    return det


def test_novelty_raises_unseen_content_and_leaves_normal_alone(stand_in, tmp_path):
    normal = ["a person sitting", "people walking", "a person sitting on a bench"] * 20
    videos = {"cam1.mp4": frames_like(stand_in, normal), "cam2.mp4": frames_like(stand_in, normal)}
    det = stand_in_detector(stand_in, videos)
    cal = calibrate(det, ["cam1.mp4", "cam2.mp4"], memory_size=16)
    assert len(cal.memory) == 16
    path = save_calibration(cal, tmp_path / "camera.json")
    cal = load_calibration(path)

    test = frames_like(stand_in, ["people walking", "a red balloon floating", "a person sitting"])
    plain = np.array(det.score_embeddings(test)["samples"]["scores"])
    info = apply_calibration(det, cal, false_alarms_per_hour=1.0)
    calibrated = np.array(det.score_embeddings(test)["samples"]["scores"])
    np.testing.assert_allclose(calibrated[[0, 2]], plain[[0, 2]], atol=1e-6)  # normal: as is
    # never-seen content: the documented formula with full novelty (n = 1)
    assert calibrated[1] == pytest.approx(combine(plain[1], 1.0), abs=1e-6)
    assert calibrated[1] > plain[1]
    assert det.event_threshold == info["threshold"]


def test_threshold_meets_the_target_rate():
    rate = np.interp(THRESHOLDS, [0.0, 0.4, 0.6, 1.0], [100.0, 10.0, 0.5, 0.0])
    about = {"hours": 10.0, "scores": {"max": 0.9}}
    cal = Calibration(about, np.eye(3), np.zeros(3), np.zeros(3), rate)
    t1, note = cal.threshold_for(1.0)
    assert note is None
    assert rate[THRESHOLDS == t1][0] <= 1.0 < rate[THRESHOLDS == round(t1 - 0.001, 3)][0]
    t10, _ = cal.threshold_for(10.0)
    assert t10 < t1  # more alarms allowed: a lower threshold
    # 10 hours of footage cannot show 0.01 alarms per hour: just above the highest score
    t_rare, note = cal.threshold_for(0.01)
    assert t_rare == pytest.approx(0.91) and "cannot show" in note


def test_calibrate_and_score_with_it(tmp_path, videos_dir, tiny_model):
    from vad.cli import main

    video = videos_dir / "Megamind.avi"
    cam = tmp_path / "camera.json"
    common = ["--model", tiny_model, "--pretrained", "none", "--sample-fps", "2"]
    assert main(["calibrate", str(video), "--out", str(cam), "--memory-size", "10", *common]) == 0
    doc = json.loads(cam.read_text())
    assert doc["memory_size"] == 10 and doc["context"]["scene"]
    assert set(doc["scores"]) >= {"p50", "p99", "max", "histogram"}
    with np.load(tmp_path / "camera.npz", allow_pickle=False) as z:  # no pickle inside
        assert z["memory"].shape == (10, 64)

    out = tmp_path / "out"
    assert main(["score", str(video), "--out", str(out), "--calibration", str(cam), *common]) == 0
    result = json.loads((out / "Megamind.json").read_text())
    recorded = result["calibration"]
    assert recorded["file"] == str(cam) and recorded["false_alarms_per_hour"] == 1.0
    assert recorded["scene"] == doc["context"]["scene"] == result["context"]["scene"]
    # the normal footage itself raises no alarm at the calibrated threshold
    assert result["events"] == [] and max(result["scores"]) < recorded["threshold"]
    assert "cannot show" in recorded["note"]  # 11 s of footage is far from an hour
    # watch records the calibration in its first record and scores with it
    jsonl = tmp_path / "watch.jsonl"
    assert (
        main(["watch", str(video), "--jsonl", str(jsonl), "--calibration", str(cam), *common]) == 0
    )
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert records[0]["type"] == "start"
    assert records[0]["calibration"]["threshold"] == recorded["threshold"]
    assert records[0]["threshold"] == recorded["threshold"]
    assert not [r for r in records if r["type"] == "event"]


def test_a_bad_calibration_is_one_usage_error(tmp_path, capsys, videos_dir, tiny_model):
    from vad.cli import main

    video = str(videos_dir / "Megamind.avi")
    missing = tmp_path / "nope.json"
    assert main(["score", video, "--out", str(tmp_path), "--calibration", str(missing)]) == 2
    assert f"{missing}: no such calibration file" in capsys.readouterr().err
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"format": "something else"}')
    assert main(["score", video, "--out", str(tmp_path), "--calibration", str(bogus)]) == 2
    assert "not a calibration file" in capsys.readouterr().err
    with pytest.raises(CalibrationError, match="no such calibration file"):
        load_calibration(missing)


def test_a_calibration_for_another_model_is_refused(stand_in, tmp_path):
    videos = {"cam.mp4": frames_like(stand_in, ["people walking"] * 10)}
    cal = calibrate(stand_in_detector(stand_in, videos), ["cam.mp4"])
    path = save_calibration(cal, tmp_path / "cam.json")
    other = Detector(model="ViT-L-14", context="none", encoder=stand_in, use_cache=False)
    with pytest.raises(CalibrationError, match="calibrated with model"):
        apply_calibration(other, load_calibration(path))
    head = json.loads(path.read_text())["head"]  # the Detector's default
    other_head = "softmax" if head != "softmax" else "margin"
    recipe = Detector(context="none", encoder=stand_in, use_cache=False, head=other_head)
    with pytest.raises(CalibrationError, match=f"calibrated with head {head}"):
        apply_calibration(recipe, load_calibration(path))


def test_calibrate_names_a_broken_video_and_writes_nothing(tmp_path, capsys, tiny_model):
    from vad.cli import main

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4096)
    cam = tmp_path / "cam.json"
    args = ["calibrate", str(junk), "--out", str(cam), "--model", tiny_model]
    assert main([*args, "--pretrained", "none", "--no-cache"]) == 1
    err = capsys.readouterr().err
    assert str(junk) in err and "nothing written" in err
    assert not cam.exists()


def test_a_calibration_made_before_anchor_modes_says_which_recipe_it_needs(stand_in, tmp_path):
    """Calibrations written when the anchor was true/false (the trimmed mean) and there was no
    motion gate: refused under today's default (another score distribution), naming the
    setting; accepted under the recipe they were made with."""
    videos = {"cam.mp4": frames_like(stand_in, ["people walking"] * 10)}
    cal = calibrate(stand_in_detector(stand_in, videos), ["cam.mp4"])
    path = save_calibration(cal, tmp_path / "cam.json")
    about = json.loads(path.read_text())
    assert (about["anchor"], about["motion_gate"]) == ("nova", "off")
    about["anchor"] = True  # as written before
    del about["motion_gate"]
    path.write_text(json.dumps(about))
    today = Detector(context="none", encoder=stand_in, use_cache=False, smoothing="none")
    with pytest.raises(
        CalibrationError, match="calibrated with anchor mean, but this run uses nova"
    ):
        apply_calibration(today, load_calibration(path))
    then = Detector(
        context="none", encoder=stand_in, use_cache=False, smoothing="none", anchor="mean"
    )
    apply_calibration(then, load_calibration(path))

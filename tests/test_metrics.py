"""Tests for the frame-level metrics in vad.evaluation.metrics."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from vad.evaluation.metrics import (
    compute_metrics,
    format_table,
    frame_ap,
    frame_ap_trapz,
    frame_auc,
)


@pytest.fixture
def per_video():
    """Two anomaly classes and two normal videos with deliberately different score scales."""
    rng = np.random.default_rng(0)

    def anomalous(n, start, end, offset):
        y = np.zeros(n, dtype=np.uint8)
        y[start : end + 1] = 1
        return y, rng.random(n) + offset * y

    a1 = anomalous(40, 10, 20, 0.5)
    a2 = anomalous(30, 0, 5, 0.2)
    b1 = anomalous(50, 25, 49, 0.8)
    return [
        ("abuse1.mp4", "Abuse", *a1),
        ("abuse2.mp4", "Abuse", *a2),
        ("fight1.mp4", "Fighting", *b1),
        ("normal1.mp4", "Normal", np.zeros(60, dtype=np.uint8), rng.random(60) * 0.9),
        ("normal2.mp4", "Normal", np.zeros(20, dtype=np.uint8), rng.random(20) + 0.3),
    ]


def concat(videos):
    return np.concatenate([v[2] for v in videos]), np.concatenate([v[3] for v in videos])


def test_frame_auc_and_ap_match_sklearn():
    y = np.array([0, 1, 0, 1, 1, 0, 0])
    s = np.array([0.1, 0.7, 0.4, 0.3, 0.9, 0.2, 0.8])
    assert frame_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert frame_ap(y, s) == pytest.approx(average_precision_score(y, s))
    assert isinstance(frame_auc(y, s), float)


def test_ap_trapz_hand_computed_and_differs_from_step_ap():
    # ranked: 0.9 (1), 0.8 (0), 0.7 (0), 0.6 (1), 0.1 (0); PR points (recall, precision):
    # (0, 1), (0.5, 1), (0.5, 1/2), (0.5, 1/3), (1, 1/2), (1, 2/5)
    y = np.array([1, 0, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.1])
    trapezoid = 0.5 * (1 + 1) / 2 + 0.5 * (1 / 3 + 1 / 2) / 2  # 0.5 + 0.2083
    step = 0.5 * 1 + 0.5 * (1 / 2)  # average_precision_score: sum of dR * P
    assert frame_ap_trapz(y, s) == pytest.approx(trapezoid)
    assert frame_ap(y, s) == pytest.approx(step)
    assert frame_ap_trapz(y, s) != pytest.approx(frame_ap(y, s))
    assert math.isnan(frame_ap_trapz(np.zeros(3, np.uint8), np.array([0.1, 0.2, 0.3])))


def test_compute_metrics_reports_both_ap_definitions(per_video):
    m = compute_metrics(per_video)
    y, s = concat(per_video)
    assert m["ap_trapz"] == pytest.approx(frame_ap_trapz(y, s))
    assert m["ap"] == pytest.approx(average_precision_score(y, s))
    fighting = [v for v in per_video if v[1] in ("Fighting", "Normal")]
    assert m["per_class"]["Fighting"]["ap_trapz"] == pytest.approx(
        frame_ap_trapz(*concat(fighting))
    )
    table = format_table(m)
    assert f"{m['ap_trapz']:.4f}" in table and "ap_trapz" in table


def test_single_class_is_nan_without_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(frame_auc(np.zeros(5), np.arange(5.0)))
        assert math.isnan(frame_auc(np.ones(5), np.arange(5.0)))
        assert math.isnan(frame_ap(np.zeros(5), np.arange(5.0)))
    assert frame_ap(np.ones(3), np.arange(3.0)) == 1.0


def test_frame_metric_validation():
    with pytest.raises(ValueError, match="3 labels but 2 scores"):
        frame_auc(np.array([0, 1, 0]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="0 or 1"):
        frame_ap(np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="NaN"):
        frame_auc(np.array([0, 1]), np.array([0.1, np.nan]))


def test_micro_auc_is_concatenation_not_mean_of_videos(per_video):
    m = compute_metrics(per_video)
    y, s = concat(per_video)
    assert m["auc"] == pytest.approx(roc_auc_score(y, s))
    assert m["ap"] == pytest.approx(average_precision_score(y, s))
    per_video_mean = np.mean([roc_auc_score(v[2], v[3]) for v in per_video[:3]])
    assert m["auc"] != pytest.approx(per_video_mean)
    assert m["num_frames"] == len(y) == 200
    assert m["num_videos"] == 5
    assert m["num_anomalous_videos"] == 3


def test_auc_anomalous_only(per_video):
    m = compute_metrics(per_video)
    y, s = concat(per_video[:3])
    assert m["auc_anomalous_only"] == pytest.approx(roc_auc_score(y, s))


def test_per_class_uses_class_videos_plus_all_normals(per_video):
    m = compute_metrics(per_video)
    assert list(m["per_class"]) == ["Abuse", "Fighting"]
    normals = per_video[3:]
    for cls, videos in (("Abuse", per_video[:2]), ("Fighting", per_video[2:3])):
        y, s = concat(videos + normals)
        got = m["per_class"][cls]
        assert got["auc"] == pytest.approx(roc_auc_score(y, s))
        assert got["ap"] == pytest.approx(average_precision_score(y, s))
        assert got["num_videos"] == len(videos)


def test_false_alarm_rate(per_video):
    m = compute_metrics(per_video, threshold=0.7)
    normal_scores = np.concatenate([v[3] for v in per_video[3:]])
    assert m["false_alarm_rate"] == pytest.approx(np.mean(normal_scores >= 0.7))
    assert m["threshold"] == 0.7
    exact = [("n.mp4", "Normal", np.zeros(4, np.uint8), np.array([0.2, 0.5, 0.6, 0.49]))]
    assert compute_metrics(exact)["false_alarm_rate"] == 0.5  # >= threshold counts


def test_single_class_values_become_none_and_json_safe():
    only_normal = [("n.mp4", "Normal", np.zeros(5, np.uint8), np.linspace(0, 1, 5))]
    m = compute_metrics(only_normal)
    assert m["auc"] is None and m["ap"] is None and m["auc_anomalous_only"] is None
    assert m["per_class"] == {}
    only_anomalous = [("a.mp4", "Abuse", np.array([0, 1, 1], np.uint8), np.array([0.1, 0.5, 0.9]))]
    m = compute_metrics(only_anomalous)
    assert m["auc"] == 1.0 and m["false_alarm_rate"] is None
    assert "curves" not in m
    json.dumps(m, allow_nan=False)


def test_result_is_json_serialisable(per_video):
    m = compute_metrics(per_video)
    assert json.loads(json.dumps(m, allow_nan=False)) == m
    assert all(type(m[k]) is float for k in ("auc", "ap", "auc_anomalous_only"))


def test_length_mismatch_names_video(per_video):
    bad = [*per_video, ("short.mp4", "Abuse", np.array([0, 1, 1]), np.array([0.1, 0.2]))]
    with pytest.raises(ValueError, match="short.mp4.*3 labels but 2 scores"):
        compute_metrics(bad)


def test_input_errors():
    with pytest.raises(ValueError, match="no videos"):
        compute_metrics([])
    with pytest.raises(ValueError, match="n.mp4.*Normal"):
        compute_metrics([("n.mp4", "Normal", np.array([0, 1]), np.array([0.1, 0.2]))])
    twice = [("a.mp4", "Abuse", np.array([0, 1]), np.array([0.1, 0.2]))] * 2
    with pytest.raises(ValueError, match="a.mp4.*more than once"):
        compute_metrics(twice)


def test_format_table(per_video):
    m = compute_metrics(per_video)
    table = format_table(m)
    assert f"{m['auc']:.4f}" in table
    assert "Abuse" in table and "Fighting" in table
    assert "false_alarm_rate (>= 0.5)" in table
    none_table = format_table(compute_metrics([("n", "Normal", np.zeros(2), np.zeros(2))]))
    assert "n/a" in none_table

"""Frame-level anomaly detection metrics (pure functions over numpy arrays).

The standard protocol (UCF-Crime, XD-Violence, ShanghaiTech) concatenates the frames of all test
videos and computes one ROC-AUC / AP over them ("micro" averaging); :func:`compute_metrics` does
that and adds the usual breakdowns.

Two definitions of "AP" are in use and both are reported: ``ap`` is scikit-learn's
``average_precision_score`` (step-wise sum, VadCLIP), ``ap_trapz`` the trapezoid area under the
precision-recall curve, ``auc(recall, precision)`` (the official XD-Violence code, RTFM, LAVAD).
The trapezoid interpolates linearly between the curve's points; neither is systematically larger.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

from vad.evaluation.datasets.base import NORMAL_LABEL

PerVideo = tuple[str, str, np.ndarray, np.ndarray]
"""``(video name, class label, 0/1 frame labels, frame scores)``."""


def _check_pair(labels: np.ndarray, scores: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or scores.ndim != 1:
        raise ValueError(
            f"{what}: labels and scores must be 1-D, got shapes {labels.shape} and {scores.shape}"
        )
    if len(labels) != len(scores):
        raise ValueError(f"{what}: {len(labels)} labels but {len(scores)} scores")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{what}: labels must be 0 or 1")
    if not np.isfinite(scores).all():
        raise ValueError(f"{what}: scores contain NaN or infinity")
    return labels.astype(np.uint8), scores


def frame_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC of frame scores against 0/1 labels; NaN if only one class is present.

    Example:
        >>> frame_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
        0.75
        >>> frame_auc(np.array([0, 0]), np.array([0.1, 0.2]))
        nan
    """
    labels, scores = _check_pair(labels, scores, "frame_auc")
    if len(np.unique(labels)) < 2:
        return math.nan
    return float(roc_auc_score(labels, scores))


def frame_ap(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision of frame scores against 0/1 labels; NaN if there is no positive frame.

    Example:
        >>> round(frame_ap(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])), 4)
        0.8333
    """
    labels, scores = _check_pair(labels, scores, "frame_ap")
    if not labels.any():
        return math.nan
    return float(average_precision_score(labels, scores))


def frame_ap_trapz(labels: np.ndarray, scores: np.ndarray) -> float:
    """Trapezoid area under the precision-recall curve, ``auc(recall, precision)``: the "AP" of
    the official XD-Violence code, RTFM and LAVAD. NaN if there is no positive frame.

    Example (the curve's points are (recall, precision) = (0, 1), (0.5, 1), (0.5, 0.5),
    (1, 2/3), (1, 0.5); trapezoids: 0.5 * 1 + 0 + 0.5 * (0.5 + 2/3) / 2 + 0 = 0.7917, where the
    step-wise AP is 0.5 * 1 + 0.5 * 2/3 = 0.8333):

        >>> round(frame_ap_trapz(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])), 4)
        0.7917
    """
    labels, scores = _check_pair(labels, scores, "frame_ap_trapz")
    if not labels.any():
        return math.nan
    precision, recall, _ = precision_recall_curve(labels, scores)
    return float(auc(recall, precision))


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def compute_metrics(per_video: Sequence[PerVideo], threshold: float = 0.5) -> dict:
    """Compute frame-level metrics over test videos.

    ``per_video`` holds ``(name, label, frame_labels, frame_scores)`` per video; a video is normal
    when its label is ``"Normal"``. Returned keys (JSON-serialisable, undefined values are None):

    - ``auc``, ``ap``, ``ap_trapz``: over all frames concatenated (the standard micro protocol);
      ``ap`` is the step-wise average precision, ``ap_trapz`` the trapezoid area
      (:func:`frame_ap_trapz`);
    - ``auc_anomalous_only``: over the frames of anomalous videos only;
    - ``per_class``: ``{class: {"auc", "ap", "ap_trapz", "num_videos"}}``, each anomalous class
      evaluated on
      its videos' frames plus the frames of all normal videos;
    - ``false_alarm_rate``: fraction of normal-video frames with score >= ``threshold``;
    - ``threshold``, ``num_frames``, ``num_videos``, ``num_anomalous_videos``.

    Raises ``ValueError`` naming the video for mismatched lengths or invalid values, for a normal
    video with anomalous frames, for duplicate names, and for empty input.

    Example:
        >>> m = compute_metrics([
        ...     ("a.mp4", "Abuse", np.array([0, 1, 1]), np.array([0.2, 0.9, 0.7])),
        ...     ("n.mp4", "Normal", np.array([0, 0]), np.array([0.1, 0.6])),
        ... ])
        >>> m["auc"], m["false_alarm_rate"]
        (1.0, 0.5)
    """
    if not per_video:
        raise ValueError("compute_metrics: no videos to evaluate")
    threshold = float(threshold)
    seen: set[str] = set()
    normal: list[tuple[np.ndarray, np.ndarray]] = []
    by_class: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for name, label, labels, scores in per_video:
        if name in seen:
            raise ValueError(f"video {name!r} appears more than once")
        seen.add(name)
        labels, scores = _check_pair(labels, scores, f"video {name!r}")
        if label == NORMAL_LABEL:
            if labels.any():
                raise ValueError(f"video {name!r} is labelled Normal but has anomalous frames")
            normal.append((labels, scores))
        else:
            by_class.setdefault(label, []).append((labels, scores))

    def concat(pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        if not pairs:
            return np.zeros(0, dtype=np.uint8), np.zeros(0)
        return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])

    anomalous = [pair for pairs in by_class.values() for pair in pairs]
    all_labels, all_scores = concat(anomalous + normal)
    anom_labels, anom_scores = concat(anomalous)
    normal_labels, normal_scores = concat(normal)

    per_class = {}
    for cls in sorted(by_class):
        y, s = concat(by_class[cls] + normal)
        per_class[cls] = {
            "auc": _none_if_nan(frame_auc(y, s)),
            "ap": _none_if_nan(frame_ap(y, s)),
            "ap_trapz": _none_if_nan(frame_ap_trapz(y, s)),
            "num_videos": len(by_class[cls]),
        }

    false_alarm = float(np.mean(normal_scores >= threshold)) if len(normal_scores) else math.nan
    return {
        "auc": _none_if_nan(frame_auc(all_labels, all_scores)),
        "ap": _none_if_nan(frame_ap(all_labels, all_scores)),
        "ap_trapz": _none_if_nan(frame_ap_trapz(all_labels, all_scores)),
        "auc_anomalous_only": _none_if_nan(frame_auc(anom_labels, anom_scores)),
        "per_class": per_class,
        "false_alarm_rate": _none_if_nan(false_alarm),
        "threshold": threshold,
        "num_frames": int(len(all_labels)),
        "num_videos": len(per_video),
        "num_anomalous_videos": len(anomalous),
    }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def format_table(metrics: dict) -> str:
    """Render :func:`compute_metrics` output as a plain-text table."""
    threshold = metrics.get("threshold")
    far_name = "false_alarm_rate" if threshold is None else f"false_alarm_rate (>= {threshold:g})"
    rows = [
        ("auc", _fmt(metrics.get("auc"))),
        ("ap (average_precision_score)", _fmt(metrics.get("ap"))),
        ("ap_trapz (auc(recall, precision))", _fmt(metrics.get("ap_trapz"))),
        ("auc_anomalous_only", _fmt(metrics.get("auc_anomalous_only"))),
        (far_name, _fmt(metrics.get("false_alarm_rate"))),
        ("videos", str(metrics.get("num_videos", "n/a"))),
        ("anomalous videos", str(metrics.get("num_anomalous_videos", "n/a"))),
        ("frames", str(metrics.get("num_frames", "n/a"))),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 6}"]
    lines += [f"{k:<{width}}  {v}" for k, v in rows]
    per_class = metrics.get("per_class") or {}
    if per_class:
        cw = max(len("class"), *(len(c) for c in per_class))
        lines += ["", f"{'class':<{cw}}  {'videos':>6}  {'auc':>6}  {'ap':>6}  {'ap_trapz':>8}"]
        lines.append(f"{'-' * cw}  {'-' * 6}  {'-' * 6}  {'-' * 6}  {'-' * 8}")
        for cls, m in per_class.items():
            lines.append(
                f"{cls:<{cw}}  {m.get('num_videos', 0):>6}  {_fmt(m.get('auc')):>6}  "
                f"{_fmt(m.get('ap')):>6}  {_fmt(m.get('ap_trapz')):>8}"
            )
    return "\n".join(lines)

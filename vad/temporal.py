"""Temporal smoothing of sampled scores and interpolation to one score per decoded frame.

Windows are in seconds, not samples, so the same setting means the same thing at any
sampling rate.

>>> import numpy as np
>>> times = np.arange(10) / 2.0                      # sampled at 2 fps
>>> scores = np.zeros(10); scores[5] = 1.0
>>> smoothed = smooth(scores, times, window_s=1.0)   # Gaussian, sigma = 1 s
>>> bool(smoothed[5] < 1.0 and smoothed[4] > 0.0)
True
>>> frame_scores = to_frame_scores(times, smoothed, num_frames=50, fps=10.0)
>>> frame_scores.shape
(50,)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

METHODS = ("gaussian", "mean", "median", "none")


def sample_rate(times: np.ndarray) -> float:
    """Samples per second estimated from sample times (median spacing)."""
    if len(times) < 2:
        return 1.0
    step = float(np.median(np.diff(times)))
    return 1.0 / step if step > 0 else 1.0


def smooth(
    scores: np.ndarray, times: np.ndarray, window_s: float = 1.0, method: str = "gaussian"
) -> np.ndarray:
    """Smooth sampled ``scores`` taken at ``times`` (seconds).

    ``gaussian``: ``window_s`` is the kernel's standard deviation. ``mean`` and ``median``:
    ``window_s`` is the full window width. Edges repeat the nearest value, so a constant stays
    constant.
    """
    if method not in METHODS:
        raise ValueError(f"unknown smoothing {method!r}; choose from {METHODS}")
    scores = np.asarray(scores, dtype=np.float64)
    if method == "none" or window_s <= 0 or len(scores) < 2:
        return scores.copy()
    rate = sample_rate(np.asarray(times, dtype=np.float64))
    if method == "gaussian":
        sigma = window_s * rate
        return ndimage.gaussian_filter1d(scores, sigma=sigma, mode="nearest", truncate=4.0)
    size = max(1, int(round(window_s * rate)))
    if size % 2 == 0:
        size += 1  # a centred window
    if method == "mean":
        return ndimage.uniform_filter1d(scores, size=size, mode="nearest")
    return ndimage.median_filter(scores, size=size, mode="nearest")


def to_frame_scores(
    times: np.ndarray, scores: np.ndarray, num_frames: int, fps: float
) -> np.ndarray:
    """Linear interpolation of sampled scores to every decoded frame ``i`` at time ``i / fps``;
    frames before the first or after the last sample take the nearest sample's score."""
    if num_frames <= 0:
        return np.zeros(0, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if len(times) == 0:
        raise ValueError("no sampled scores to interpolate")
    frame_times = np.arange(num_frames, dtype=np.float64) / fps
    return np.interp(frame_times, times, scores)


def find_events(
    frame_scores: np.ndarray,
    fps: float,
    threshold: float = 0.5,
    min_duration_s: float = 0.5,
    merge_gap_s: float = 1.0,
) -> list[tuple[int, int]]:
    """Spans of frames (start, end inclusive) whose score stays at or above ``threshold``;
    spans closer than ``merge_gap_s`` merge, spans shorter than ``min_duration_s`` drop."""
    above = np.asarray(frame_scores) >= threshold
    if not above.any():
        return []
    edges = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    spans: list[list[int]] = []
    gap = merge_gap_s * fps
    for s, e in zip(starts, ends, strict=True):
        if spans and s - spans[-1][1] - 1 <= gap:
            spans[-1][1] = int(e)
        else:
            spans.append([int(s), int(e)])
    min_len = min_duration_s * fps
    return [(s, e) for s, e in spans if e - s + 1 >= min_len]

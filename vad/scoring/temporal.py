"""Temporal smoothing of sampled scores, NOVA's motion gate, and interpolation to one score per
decoded frame.

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

METHODS = ("gaussian", "mean", "median", "none")
NOVA_MOTION_LAG_S = 2.0 / 30.0  # NOVA's x(t-1), x(t+1): 2 frames apart at 30 fps


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
    times = np.asarray(times, dtype=np.float64)
    if len(times) == len(scores) and _irregular(times):
        return _smooth_by_time(scores, times, window_s, method)
    from scipy import ndimage  # imported when used: the option parser imports this module

    rate = sample_rate(times)
    if method == "gaussian":
        sigma = window_s * rate
        return ndimage.gaussian_filter1d(scores, sigma=sigma, mode="nearest", truncate=4.0)
    size = max(1, int(round(window_s * rate)))
    if size % 2 == 0:
        size += 1  # a centred window
    if method == "mean":
        return ndimage.uniform_filter1d(scores, size=size, mode="nearest")
    return ndimage.median_filter(scores, size=size, mode="nearest")


def _irregular(times: np.ndarray) -> bool:
    """Sample spacing that varies by more than a quarter of the typical spacing (a variable
    frame rate, a gap in the recording): windows in samples would not be windows in seconds."""
    if len(times) < 3:
        return False
    steps = np.diff(times)
    typical = float(np.median(steps))
    return typical > 0 and bool(np.any(np.abs(steps - typical) > 0.25 * typical))


def _smooth_by_time(
    scores: np.ndarray, times: np.ndarray, window_s: float, method: str
) -> np.ndarray:
    """:func:`smooth` on irregular sample times: each sample's window is measured in seconds
    around its own time (Gaussian weights by time difference, cut at 4 sigma)."""
    half = 4.0 * window_s if method == "gaussian" else window_s / 2.0
    lo = np.searchsorted(times, times - half - 1e-9, side="left")
    hi = np.searchsorted(times, times + half + 1e-9, side="right")
    out = np.empty_like(scores)
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        window = scores[a:b]
        if method == "gaussian":
            w = np.exp(-0.5 * ((times[a:b] - times[i]) / window_s) ** 2)
            out[i] = float(np.dot(w, window) / w.sum())
        elif method == "mean":
            out[i] = float(window.mean())
        else:
            out[i] = float(np.median(window))
    return out


def motion_strength(
    embeddings: np.ndarray, times: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """NOVA eq. 9 on sampled embeddings: ``m_t = 1 - cos(x(t-1), x(t+1))`` per sample (N,), and
    the time between those two samples (N,) in seconds (``times`` given; else in samples).
    At the first and last sample the missing neighbour is the sample itself (so a streaming
    caller's newest sample gets a one-sided value, revised once its successor arrives).

    >>> x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> m, lag = motion_strength(x, np.array([0.0, 0.5, 1.0]))
    >>> m.tolist(), lag.tolist()
    ([0.0, 1.0, 1.0], [0.5, 1.0, 0.5])
    """
    x = np.asarray(embeddings, np.float64)
    n = len(x)
    t = np.arange(n, dtype=np.float64) if times is None else np.asarray(times, np.float64)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    i = np.arange(n)
    before, after = np.maximum(i - 1, 0), np.minimum(i + 1, n - 1)
    m = 1.0 - np.einsum("nd,nd->n", x[before], x[after])
    return np.clip(m, 0.0, 2.0), t[after] - t[before]


def motion_gate(
    m: np.ndarray,
    lag_s: np.ndarray,
    threshold: float = 0.02,
    slope: float = 20.0,
    reference_lag_s: float | None = NOVA_MOTION_LAG_S,
) -> np.ndarray:
    """NOVA eq. 10's factor ``sigmoid(slope * (m' - threshold))``, ``m'`` the motion strength
    restated at the lag NOVA measured it at.

    NOVA computes ``m`` on full-rate frames, ``x(t-1)`` and ``x(t+1)`` 2 frames apart (0.067 s
    at 30 fps), and sets ``threshold = 0.02``, ``slope = 20`` there. We sample 2 fps, so our
    neighbours are about 1 s apart and the same motion moves the embedding further. Restated
    under the assumption that the cosine distance grows in proportion to the time between the
    two frames (a rate; valid while it stays far below its within-video ceiling):
    ``m' = m * reference_lag_s / lag_s``, i.e. at a 1 s lag the threshold is 0.02 * 15 = 0.30
    and the slope 20 / 15 = 1.33 in our ``m``. A cut is a step, not a rate: it moves ``m`` by
    the same amount at any lag, so restated it weighs less than in NOVA (0.5-0.6, not ~1).
    ``reference_lag_s=None`` applies the constants to ``m`` as it is (``unscaled``).
    With no motion the factor is ``sigmoid(-0.4) = 0.40`` either way.

    >>> motion_gate(np.array([0.0, 0.30]), np.array([1.0, 1.0])).round(2).tolist()
    [0.4, 0.5]
    >>> motion_gate(np.array([0.02]), np.array([1.0]), reference_lag_s=None).tolist()
    [0.5]
    """
    m = np.asarray(m, np.float64)
    if reference_lag_s is not None:
        lag = np.asarray(lag_s, np.float64)
        m = np.where(lag > 0, m * reference_lag_s / np.where(lag > 0, lag, 1.0), 0.0)
    from scipy.special import expit

    return expit(slope * (m - threshold))


def to_frame_scores(
    times: np.ndarray,
    scores: np.ndarray,
    num_frames: int,
    fps: float,
    frame_times: np.ndarray | None = None,
) -> np.ndarray:
    """Linear interpolation of sampled scores to every decoded frame ``i`` at its timestamp
    ``frame_times[i]`` (variable frame rate), or ``i / fps`` when not given; frames before the
    first or after the last sample take the nearest sample's score."""
    if num_frames <= 0:
        return np.zeros(0, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if len(times) == 0:
        raise ValueError("no sampled scores to interpolate")
    if frame_times is None or len(frame_times) != num_frames:
        frame_times = np.arange(num_frames, dtype=np.float64) / fps
    return np.interp(np.asarray(frame_times, dtype=np.float64), times, scores)


def find_events(
    frame_scores: np.ndarray,
    fps: float,
    threshold: float = 0.5,
    min_duration_s: float = 0.5,
    merge_gap_s: float = 1.0,
    frame_times: np.ndarray | None = None,
) -> list[tuple[int, int]]:
    """Spans of frames (start, end inclusive) whose score stays at or above ``threshold``;
    spans closer than ``merge_gap_s`` merge, spans shorter than ``min_duration_s`` drop.
    Durations are measured on ``frame_times`` (s) when given (a variable frame rate), else
    in frames at ``fps``."""
    above = np.asarray(frame_scores) >= threshold
    if not above.any():
        return []
    edges = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    spans: list[list[int]] = []
    if frame_times is not None and len(frame_times) == len(above):
        t = np.asarray(frame_times, dtype=np.float64)
        period = float(np.median(np.diff(t))) if len(t) > 1 else 1.0 / fps
        end_t = np.append(t[1:], t[-1] + period)  # when each frame stops showing

        def gap_s(prev_end: int, start: int) -> float:
            return float(t[start] - end_t[prev_end])

        def length_s(start: int, end: int) -> float:
            return float(end_t[end] - t[start])
    else:

        def gap_s(prev_end: int, start: int) -> float:
            return (start - prev_end - 1) / fps

        def length_s(start: int, end: int) -> float:
            return (end - start + 1) / fps

    eps = 1e-9
    for s, e in zip(starts, ends, strict=True):
        if spans and gap_s(spans[-1][1], s) <= merge_gap_s + eps:
            spans[-1][1] = int(e)
        else:
            spans.append([int(s), int(e)])
    return [(s, e) for s, e in spans if length_s(s, e) >= min_duration_s - eps]

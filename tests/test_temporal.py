"""Smoothing and interpolation on constructed signals."""

from __future__ import annotations

import numpy as np
import pytest

from vad.scoring.temporal import find_events, smooth, to_frame_scores


@pytest.mark.parametrize("rate", [1.0, 2.0, 5.0])
def test_gaussian_spike_spreads_by_sigma_in_seconds(rate):
    times = np.arange(200) / rate
    spike = np.zeros(200)
    spike[100] = 1.0
    out = smooth(spike, times, window_s=2.0, method="gaussian")
    # the impulse response is a Gaussian whose standard deviation is 2 s whatever the rate
    centre = (out * times).sum() / out.sum()
    sigma_s = np.sqrt((out * (times - centre) ** 2).sum() / out.sum())
    assert centre == pytest.approx(times[100], abs=1e-6)
    assert sigma_s == pytest.approx(2.0, rel=0.05)
    assert out.sum() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("method", ["gaussian", "mean", "median", "none"])
def test_constant_stays_constant(method):
    times = np.arange(37) / 3.0
    out = smooth(np.full(37, 0.42), times, window_s=1.5, method=method)
    np.testing.assert_allclose(out, 0.42, atol=1e-12)


def test_median_removes_a_one_sample_glitch_mean_spreads_it():
    times = np.arange(21) / 2.0
    sig = np.zeros(21)
    sig[10] = 1.0
    assert smooth(sig, times, 2.0, "median").max() == 0.0
    mean = smooth(sig, times, 2.0, "mean")
    assert mean[10] == pytest.approx(1 / 5) and mean[8] == pytest.approx(1 / 5)


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown smoothing"):
        smooth(np.zeros(3), np.arange(3.0), 1.0, "wavelet")


@pytest.mark.parametrize("fps,num_frames", [(23.976, 1439), (29.97, 1799), (25.0, 7), (10.0, 795)])
def test_one_score_per_decoded_frame_for_odd_rates(fps, num_frames):
    # samples at 2 fps by timestamp, as the sampler makes them
    sample_idx = np.unique(np.ceil(np.arange(0, num_frames / fps, 0.5) * fps - 1e-6).astype(int))
    sample_idx = sample_idx[sample_idx < num_frames]
    times = sample_idx / fps
    scores = np.linspace(0, 1, len(times))
    out = to_frame_scores(times, scores, num_frames, fps)
    assert out.shape == (num_frames,)
    np.testing.assert_allclose(out[sample_idx], scores, atol=1e-9)
    assert np.all(np.diff(out) >= -1e-12)  # monotone input stays monotone


def test_frames_outside_the_sampled_range_take_the_nearest_score():
    out = to_frame_scores(np.array([1.0, 2.0]), np.array([0.2, 0.8]), 40, 10.0)
    assert out[0] == 0.2 and out[-1] == 0.8


def test_events_merge_close_spans_and_drop_short_ones():
    fps = 10.0
    s = np.zeros(100)
    s[10:20] = 0.9  # 1 s
    s[25:35] = 0.8  # 0.5 s gap from the first -> merged
    s[60:62] = 0.9  # 0.2 s -> dropped
    assert find_events(s, fps, threshold=0.5, min_duration_s=0.5, merge_gap_s=1.0) == [(10, 34)]


def test_irregular_sample_times_smooth_over_seconds_not_samples():
    """Samples at 0.1 s spacing for 5 s, then at 1 s spacing: a 1 s mean window covers about
    11 samples in the dense part and 1 in the sparse part."""
    times = np.concatenate([np.arange(0, 5, 0.1), np.arange(5, 15, 1.0)])
    scores = np.zeros(len(times))
    scores[::2] = 1.0
    out = smooth(scores, times, window_s=1.0, method="mean")
    dense, sparse = times < 4.5, times > 5.5
    assert np.all(np.abs(out[dense][5:] - 0.5) < 0.1)  # averaged over ~11 neighbours
    np.testing.assert_allclose(out[sparse], scores[sparse])  # alone in its window
    spike = np.zeros(len(times))
    spike[-5] = 1.0
    g = smooth(spike, times, window_s=1.0, method="gaussian")
    i = len(times) - 5  # neighbours 1 s away get exp(-1/2) of the spike's weight
    assert g[i - 1] / g[i] == pytest.approx(np.exp(-0.5) / 1.0, rel=1e-6)


def test_frame_scores_and_events_follow_real_timestamps():
    # 60 fps for 1 s, 15 fps for 1 s, 60 fps for 1 s: a variable frame rate
    t = np.concatenate([np.arange(60) / 60, 1 + np.arange(15) / 15, 2 + np.arange(60) / 60])
    out = to_frame_scores(np.array([0.0, 3.0]), np.array([0.0, 1.0]), len(t), 45.0, t)
    np.testing.assert_allclose(out, t / 3.0)
    above = (t >= 1.0) & (t < 1.6)  # 0.6 s, 9 frames at 15 fps
    s = np.where(above, 0.9, 0.0)
    assert find_events(s, 45.0, 0.5, min_duration_s=0.5, frame_times=t) == [(60, 68)]
    # in frames at the average 45 fps those 9 frames would be 0.2 s and dropped
    assert find_events(s, 45.0, 0.5, min_duration_s=0.5) == []

"""Frame sampler on the real sample videos and on files the tests make."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vad.media.frames import VideoError, sample_times
from vad.media.sampler import FrameSampler


def collect(stream):
    batches = list(stream)
    return (
        np.concatenate([b.indices for b in batches]),
        np.concatenate([b.times for b in batches]),
        batches,
    )


def write_video(path, n: int, fps: float, size=(64, 48)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(n):
        writer.write(np.full((size[1], size[0], 3), i % 256, np.uint8))
    writer.release()


@pytest.mark.parametrize("backend", ["opencv", "decord"])
def test_samples_by_timestamp_and_counts_decoded_frames(vtest, backend):
    stream = FrameSampler(sample_fps=2.0, batch_size=16, backend=backend).open(vtest)
    indices, times, batches = collect(stream)
    assert stream.num_decoded == 795
    np.testing.assert_array_equal(indices, np.arange(0, 795, 5))  # 10 fps -> every 5th frame
    np.testing.assert_allclose(times, indices / 10.0)
    assert all(len(b) <= 16 and b.frames.dtype == np.uint8 for b in batches)
    assert batches[0].frames.shape[1:] == (576, 768, 3)


def test_odd_frame_rate_is_sampled_by_time_not_by_count(videos_dir):
    stream = FrameSampler(sample_fps=2.0).open(videos_dir / "Megamind.avi")
    indices, times, _ = collect(stream)
    assert stream.num_decoded == 270
    assert stream.fps == pytest.approx(23.976, abs=1e-3)
    # one sample per half second, each the first frame at or after its target time
    np.testing.assert_allclose(times, indices / stream.fps)
    targets = sample_times(270 / stream.fps, 2.0)
    assert len(indices) == len(targets)
    assert np.all(times >= targets - 1e-6) and np.all(times - targets < 1 / stream.fps)


def test_every_frame_when_sample_fps_is_none(tmp_path):
    path = tmp_path / "ten.avi"
    write_video(path, 10, 7.0)
    stream = FrameSampler(sample_fps=None, batch_size=4).open(path)
    indices, _, batches = collect(stream)
    np.testing.assert_array_equal(indices, np.arange(10))
    assert [len(b) for b in batches] == [4, 4, 2]
    # RGB, not BGR: the test frames are grey, so check the order with a coloured one
    assert batches[0].frames[1, 0, 0].tolist() == pytest.approx([1, 1, 1], abs=3)


def test_rgb_channel_order(tmp_path):
    path = tmp_path / "red.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (32, 32))
    for _ in range(3):
        frame = np.zeros((32, 32, 3), np.uint8)
        frame[..., 2] = 255  # red in OpenCV's BGR
        writer.write(frame)
    writer.release()
    (batch,) = list(FrameSampler(sample_fps=None).open(path))
    r, g, b = batch.frames[0, 16, 16]
    assert r > 200 and g < 50 and b < 50


def test_header_frame_count_is_not_trusted(tmp_path, vtest):
    # A file cut short: the header still says 795 frames
    data = vtest.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 3])
    stream = FrameSampler(sample_fps=2.0).open(cut)
    indices, _, _ = collect(stream)
    assert 0 < stream.num_decoded < 795
    assert indices.max() < stream.num_decoded
    assert any("header reports 795" in w for w in stream.warnings)


@pytest.mark.parametrize(
    "content,problem",
    [
        (b"", "empty file"),
        (b"hello, I am not a video\n" * 10, "not a video (it is a text file)"),
        (bytes(range(256)) * 64, "cannot decode"),
    ],
)
def test_broken_files_raise_one_clear_error(tmp_path, content, problem):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError) as info:
        list(FrameSampler().open(path))
    message = str(info.value)
    assert str(path) in message and problem in message and "\n" not in message


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        FrameSampler().open(tmp_path / "nope.mp4")
    with pytest.raises(VideoError, match="directory"):
        FrameSampler().open(tmp_path)


def test_bad_parameters():
    with pytest.raises(ValueError, match="backend"):
        FrameSampler(backend="gstreamer")
    with pytest.raises(ValueError, match="batch_size"):
        FrameSampler(batch_size=0)


def write_vfr_video(path, parts=((60, 60), (15, 15), (60, 60)), size=(64, 48)) -> np.ndarray:
    """An MP4 whose frame rate changes: ``(fps, frames)`` parts (default: thirds of a second at
    60, 15 and 60 fps), frame ``n`` filled with grey level ``2n``. Returns the frame times."""
    import fractions

    import av

    tb = fractions.Fraction(1, 600)
    times = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=60)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.codec_context.time_base = stream.time_base = tb
        pts = 0
        for fps, count in parts:
            for _ in range(count):
                img = np.full((size[1], size[0], 3), (2 * len(times)) % 256, np.uint8)
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts, frame.time_base = pts, tb
                container.mux(stream.encode(frame))
                times.append(pts / 600)
                pts += 600 // fps
        container.mux(stream.encode())
    return np.asarray(times)


@pytest.mark.parametrize("backend", ["pyav", "opencv", "decord"])
def test_variable_frame_rate_is_sampled_at_real_times(tmp_path, backend):
    path = tmp_path / "vfr.mp4"
    true_times = write_vfr_video(path)
    stream = FrameSampler(sample_fps=2.0, backend=backend).open(path)
    indices, times, batches = collect(stream)
    assert stream.num_decoded == 135
    targets = np.arange(0, 3.0, 0.5)
    assert len(times) == len(targets)
    # each sample is the first frame at or after its target: within one frame (1/15 s here)
    assert np.all(times >= targets - 1e-6) and np.all(times - targets < 1 / 15 + 1e-6)
    np.testing.assert_allclose(times, true_times[indices], atol=1e-3)
    np.testing.assert_allclose(stream.frame_times, true_times, atol=1e-3)
    grey = np.concatenate([b.frames[:, 24, 32, 0] for b in batches]).astype(int)
    assert np.all(np.abs(grey - 2 * indices) <= 5)  # those frames' pixels (a lossy codec)


@pytest.mark.parametrize("sample_fps", [None, 4.0])
def test_variable_frame_rate_windows_keep_real_times(tmp_path, monkeypatch, sample_fps):
    """PyAV windows (the Ray engine's segments) start decoding at a keyframe before the window:
    their frames have the indices, real times and pixels the whole pass gives them."""
    import av

    path = tmp_path / "vfr.mp4"
    true_times = write_vfr_video(path)
    sampler = FrameSampler(sample_fps=sample_fps, backend="pyav")
    indices, times, batches = collect(sampler.open(path))
    frames = np.concatenate([b.frames for b in batches])
    decoded = []  # frames each window decodes: counts packets sent to the decoder
    real_decode = av.Packet.decode
    monkeypatch.setattr(av.Packet, "decode", lambda p: decoded.append(p.pts) or real_decode(p))
    parts = []
    for start in np.arange(0.0, 3.0, 0.4):
        decoded.clear()
        stream = sampler.window(start, start + 0.4).open(path)
        batches = list(stream)  # a window can hold no sample (2.8 s to the end at 4 fps)
        parts.append(collect(iter(batches)) if batches else (np.zeros(0, int), np.zeros(0), []))
        assert stream.info.backend == "pyav"
        if start > 1.0:  # the window's frames and at most a keyframe interval before them
            assert 0 < len(decoded) < len(true_times) / 2
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), indices)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), times)
    np.testing.assert_allclose(times, true_times[indices], atol=1e-3)
    np.testing.assert_array_equal(np.concatenate([b.frames for p in parts for b in p[2]]), frames)


def test_constant_rate_needs_no_per_frame_times(vtest):
    stream = FrameSampler(sample_fps=2.0).open(vtest)
    collect(stream)
    assert stream.frame_times is None and stream.info.backend == "pyav"


def test_avi_with_b_frames_gets_presentation_times_not_decode_order(videos_dir):
    # FFmpeg hands out an AVI's decode-order stamps (1, 2, 3, 5, 4, ...): sorted back
    stream = FrameSampler(sample_fps=None, backend="pyav").open(videos_dir / "Megamind.avi")
    indices, times, _ = collect(stream)
    assert np.all(np.diff(times) > 0)
    np.testing.assert_allclose(times, indices / stream.fps, atol=1e-3)


def test_scores_of_a_variable_frame_rate_file_carry_its_real_times(tmp_path, tiny_model):
    import csv
    import json

    from vad.cli import main

    path = tmp_path / "vfr.mp4"
    true_times = write_vfr_video(path)
    out = tmp_path / "out"
    rc = main(["score", str(path), "--model", tiny_model, "--out", str(out), "--sample-fps", "2",
               "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    assert rc == 0
    result = json.loads((out / "vfr.json").read_text())
    with open(out / "vfr.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == result["num_frames"] == 135
    np.testing.assert_allclose([float(r["time_s"]) for r in rows], true_times, atol=1e-3)
    samples = result["samples"]
    np.testing.assert_allclose(samples["times"], true_times[samples["frames"]], atol=1e-3)
    assert np.all(np.abs(np.array(samples["times"]) - np.arange(0, 3, 0.5)) < 1 / 15 + 1e-6)

"""Segments of a video (the Ray engine's unit of work): a sampler window yields exactly the
whole video's samples in it, and stitching segments back gives the one-pass result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vad.engines.ray.stitch import first_frame_at, stitch
from vad.media.frames import VideoError
from vad.media.sampler import FrameSampler


def _decode(sampler: FrameSampler, path):
    stream = sampler.open(path)
    batches = list(stream)
    frames = np.concatenate([b.frames for b in batches]) if batches else np.zeros((0,))
    indices = np.concatenate([b.indices for b in batches]) if batches else np.zeros(0, int)
    times = np.concatenate([b.times for b in batches]) if batches else np.zeros(0)
    return frames, indices, stream.num_decoded, times, stream.info.backend


@pytest.mark.parametrize("backend", ["pyav", "opencv", "auto"])
@pytest.mark.parametrize(("name", "sample_fps", "segment_s"), [
    ("vtest.avi", 2.0, 10.0), ("vtest.avi", 3.0, 7.3), ("Megamind.avi", 2.0, 2.5),
])  # fmt: skip
def test_windows_decoded_by_seeking_add_up_to_the_whole_video(
    videos_dir, name, sample_fps, segment_s, backend
):
    path = videos_dir / name
    sampler = FrameSampler(sample_fps, batch_size=8, resize_short=32, backend=backend)
    frames, indices, num_decoded, times, used = _decode(sampler, path)
    parts, counts = [], []
    start = 0.0
    while True:
        part = _decode(sampler.window(start, start + segment_s), path)
        if part[2] == 0:  # past the end
            break
        parts.append(part)
        counts.append(part[2])
        start += segment_s
    assert len(parts) == int(np.ceil(num_decoded / sampler.open(path).fps / segment_s))
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), indices)
    np.testing.assert_array_equal(np.concatenate([p[3] for p in parts]), times)
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), frames)
    assert counts[-1] == num_decoded and counts == sorted(counts)
    # auto decodes windows with the backend it decodes whole videos with (PyAV first)
    assert {p[4] for p in parts} == {used} == {"opencv" if backend == "opencv" else "pyav"}


def test_first_frame_at_matches_the_samplers_times():
    for fps in (10.0, 23.976, 29.97, 30.0):
        for t in (0.0, 0.1, 7.3, 10.0, 60.0, 3599.9):
            i = first_frame_at(t, fps)
            assert i / fps >= t and (i == 0 or (i - 1) / fps < t)


def _segment(j, n, start, end, indices, num_decoded, fps=10.0, reported=100):
    meta = {"fps": fps, "reported_frames": reported, "num_decoded": num_decoded, "warnings": []}
    k = len(indices)
    return {
        "index": 0, "segment": j, "num_segments": n, "start_s": start, "end_s": end,
        "meta": json.dumps(meta), "embeddings": np.full((k, 4), j, np.float32),
        "indices": np.asarray(indices, np.int64), "times": np.asarray(indices) / fps,
    }  # fmt: skip


def test_stitch_ends_the_video_where_decoding_stopped(tmp_path):
    """A file whose decoding stops inside segment 2 of 4 (damage; the header said 100 frames):
    what follows is dropped, as a single pass would never have reached it."""
    segments = [
        _segment(0, 4, 0.0, 2.5, [0, 5, 10, 15, 20], 25),
        _segment(1, 4, 2.5, 5.0, [25, 30, 35], 38),  # ends at frame 38 of 25..49
        _segment(2, 4, 5.0, 7.5, [50, 55, 60, 65, 70], 75),  # after a seek past the damage
        _segment(3, 4, 7.5, -1.0, [75, 80], 82),
    ]
    emb = stitch(tmp_path / "v.avi", segments)
    assert emb.num_frames == 38 and emb.indices.tolist() == [0, 5, 10, 15, 20, 25, 30, 35]
    assert emb.embeddings[:, 0].tolist() == [0] * 5 + [1] * 3
    assert emb.warnings == ["decoded 38 frames but the header reports 100"]
    complete = _segment(1, 3, 2.5, 5.0, [25, 30, 35, 40, 45], 50)
    whole = stitch(tmp_path / "v.avi", [segments[0], complete, _segment(2, 3, 5.0, -1.0, [50], 99)])
    assert whole.num_frames == 99 and whole.warnings == [] and whole.indices[-1] == 50
    with pytest.raises(VideoError, match="no frames could be decoded"):
        stitch(
            tmp_path / "v.avi", [_segment(0, 2, 0.0, 2.5, [], 0), _segment(1, 2, 2.5, -1, [], 0)]
        )


def test_stitched_windows_of_a_variable_frame_rate_video_are_the_whole_video(tmp_path):
    """60/15/60 fps thirds (average 45 fps) in 0.4 s windows decoded by PyAV: a window of the
    15 fps part ends fewer frames in than ``end * fps`` says, yet the video goes on; stitching
    must not end it there (each window says whether it saw a frame past its end)."""
    from test_video import write_vfr_video

    path = tmp_path / "vfr.mp4"
    write_vfr_video(path)
    sampler = FrameSampler(sample_fps=4.0, batch_size=4, backend="pyav")
    _, indices, num_decoded, times, _ = _decode(sampler, path)
    starts = np.arange(0.0, 3.0, 0.4)
    rows = []
    for j, start in enumerate(starts):
        end = start + 0.4 if j < len(starts) - 1 else -1.0
        stream = sampler.window(start, None if end < 0 else end).open(path)
        part = np.concatenate([b.indices for b in stream] or [np.zeros(0, int)])
        row = _segment(j, len(starts), start, end, part, stream.num_decoded, fps=stream.fps)
        meta = {**json.loads(row["meta"]), "reached_end": stream.reached_end}
        rows.append({**row, "meta": json.dumps(meta), "times": times[np.isin(indices, part)]})
    emb = stitch(path, rows)
    assert emb.num_frames == num_decoded == 135
    np.testing.assert_array_equal(emb.indices, indices)


def test_a_window_late_in_a_video_never_holds_the_packets_before_it():
    """A segment an hour into a video demuxes the hour before it (to count its frames) but
    must not hold that hour of compressed video while it does: only the packets since the
    last keyframe are kept (a Ray worker's heap grew with each later segment, docs/ray.md)."""
    import weakref
    from fractions import Fraction

    from vad.media.decoders import _pyav_skip_to

    class Packet:  # what _pyav_skip_to reads of a PyAV packet
        def __init__(self, i: int):
            self.pts, self.size, self.is_keyframe = i, 1000, i % 10 == 0

    class Stream:
        time_base = Fraction(1, 10)  # 10 fps: packet i at i / 10 s

    made: list[weakref.ref] = []  # packets hold no cycles: freed as soon as dropped
    most_alive = 0

    def demux():
        nonlocal most_alive
        for i in range(1000):
            most_alive = max(most_alive, sum(ref() is not None for ref in made))
            packet = Packet(i)
            made.append(weakref.ref(packet))
            yield packet

    skipped, rest = _pyav_skip_to(demux(), Stream(), start_s=42.35)
    assert most_alive <= 10  # a keyframe interval, not the 420 packets before 42 s
    assert [frame.pts for frame in skipped] == list(range(420))
    assert [p.pts for p in rest][:3] == [420, 421, 422]

"""Stage 2, CPU tasks: one segment of a video decoded, sampled, resized and cropped
(:func:`decode_segment`) with the local engine's :class:`~vad.media.worker.DecodeWorker` in a
thread, and the C heap handed back afterwards (:func:`return_free_heap`)."""

from __future__ import annotations

import ctypes
import functools
import json
import time
from pathlib import Path

import numpy as np

from vad.engines.ray.plan import _Plan
from vad.engines.ray.rows import _failed, _row


def _stream(row: dict, plan: _Plan):
    """``(video, batches)`` of one segment, decoded in this process by a thread: a stall is
    reported after ``--decode-timeout`` as by the local engine's decode worker; a native crash
    kills this Ray worker, and Ray's bounded retry then reports the video. (A decode worker
    process of its own would cost ~0.5 GB more for each decoding CPU.)"""
    from vad.media.worker import DecodeWorker

    sampler = plan.sampler
    if int(row["num_segments"]) > 1:
        end = float(row["end_s"])
        sampler = sampler.window(float(row["start_s"]), None if end < 0 else end)
    worker = DecodeWorker(sampler, plan.preprocess, plan.decode_timeout_s, isolate=False)
    return worker.stream(Path(row["path"]))


def _decode_meta(video, row: dict) -> dict:
    """What decoding found, for the row's ``meta``."""
    return {
        "fps": float(video.fps),
        "reported_frames": int(video.reported_frames),
        "num_decoded": int(video.num_decoded),
        "warnings": list(video.warnings),
        "reached_end": bool(video.reached_end),
        # a variable frame rate's timestamps; per video, so only from a video decoded whole
        "frame_times": None
        if video.frame_times is None or int(row["num_segments"]) > 1
        else video.frame_times.tolist(),
    }


def decode_segment(row: dict, plan: _Plan) -> dict:
    """One segment -> its sampled frames at the model's size (uint8 N,3,h,w) and what decoding
    found. A video of one segment is decoded whole, exactly as the local engine decodes it.
    Never raises for a bad video: the row carries the error message instead."""
    try:
        return _decode_segment(row, plan)
    finally:
        return_free_heap()  # the task's worker process decodes the next segment


def _decode_segment(row: dict, plan: _Plan) -> dict:
    t0 = time.perf_counter()
    try:
        video, batches = _stream(row, plan)
        pixels, indices, times = [], [], []
        for batch in batches:
            pixels.append(np.asarray(batch.pixels, np.uint8))
            indices.append(batch.indices)
            times.append(batch.times)
    except Exception as exc:  # noqa: BLE001 - one bad video must not kill the job
        return _failed(row, exc, t0)
    return _row(
        row, meta=json.dumps(_decode_meta(video, row)), seconds=time.perf_counter() - t0,
        pixels=np.concatenate(pixels) if pixels else _row(row)["pixels"],
        indices=np.concatenate(indices) if indices else np.zeros(0, np.int64),
        times=np.concatenate(times) if times else np.zeros(0, np.float64),
    )  # fmt: skip


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def return_free_heap() -> None:
    """Hand the C heap's free pages back to the system once a segment is done. A Ray worker
    lives for the whole job and decodes each segment in a new thread; glibc gives threads
    heaps of their own (arenas, up to 8 per core), and the free memory a segment's packets and
    frames leave in one is neither reused by the next segment's thread nor returned, so the
    worker kept the largest transient of every arena it used: ~0.45 GB after ten segments
    on 2 cores (docs/ray.md, Memory). Costs 10-60 ms a segment (measured on 2 busy cores),
    against seconds of decoding and encoding."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)

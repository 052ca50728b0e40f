"""The one row schema every stage of the Ray pipeline reads and writes (:func:`_row`): a
video's index and path, its segment, an error, the decoded pixels (uint8 N,3,h,w), the
embeddings (float32 N,D), the sampled frames' indices and times, and what decoding found as
JSON (``meta``)."""

from __future__ import annotations

import time

import numpy as np

from vad.cache import VideoEmbeddings
from vad.errors import first_line
from vad.media.frames import VideoError


def _row(src: dict, **fields) -> dict:
    """A row of the pipeline: ``src``'s video and segment, with ``fields`` replaced."""
    row = {
        "index": int(src["index"]),
        "path": str(src["path"]),
        "segment": int(src.get("segment", 0)),
        "num_segments": int(src.get("num_segments", 1)),
        "start_s": float(src.get("start_s", 0.0)),
        "end_s": float(src.get("end_s", -1.0)),  # -1: to the end of the video
        "error": "",
        "meta": "{}",  # what decoding found, as JSON
        "pixels": np.zeros((0, 3, 1, 1), np.uint8),
        "embeddings": np.zeros((0, 1), np.float32),
        "indices": np.zeros(0, np.int64),
        "times": np.zeros(0, np.float64),
        "seconds": 0.0,
    }
    row.update(fields)
    return row


def _failed(src: dict, exc: Exception, t0: float) -> dict:
    """The row of a segment or video that failed: its one-line error."""
    error = str(exc)
    if not isinstance(exc, VideoError):
        error = f"{src['path']}: decoding failed ({first_line(exc)})"
    return _row(src, error=error, seconds=time.perf_counter() - t0)


def _facts(emb: VideoEmbeddings, **extra) -> dict:
    return {
        "num_frames": int(emb.num_frames),
        "fps": float(emb.fps),
        "reported_frames": int(emb.reported_frames),
        "warnings": list(emb.warnings),
        "frame_times": None if emb.frame_times is None else emb.frame_times.tolist(),
        **extra,
    }


def _frame_times(meta: dict) -> np.ndarray | None:
    """A variable frame rate's per-frame timestamps, carried in a row's metadata."""
    times = meta.get("frame_times")
    return None if times is None else np.asarray(times, dtype=np.float64)

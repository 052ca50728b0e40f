"""Stage 4, on the driver: a video's encoded segments, back in order, stitched into the
:class:`~vad.cache.VideoEmbeddings` the local engine's one pass over the whole video gives
(:func:`stitch`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from vad.cache import VideoEmbeddings
from vad.engines.ray.rows import _frame_times


def first_frame_at(time_s: float, fps: float) -> int:
    """The index of the first frame whose time (``index / fps``, as the sampler computes it) is
    at or after ``time_s``."""
    i = max(0, math.ceil(time_s * fps) - 2)
    while i / fps < time_s:
        i += 1
    return i


def stitch(path: Path, segments: list[dict]) -> VideoEmbeddings:
    """The :class:`VideoEmbeddings` of a video from its encoded segments (in order): what the
    local engine's one pass over the whole video finds. Decoding that stops inside a segment
    (the end of the file, or damage) ends the video there, as it ends a single pass."""
    from vad.media.frames import finish_checks
    from vad.media.worker import DecodedVideo
    from vad.pipeline import assemble

    metas = [json.loads(str(s["meta"])) for s in segments]
    video = DecodedVideo(
        path, fps=metas[0]["fps"], reported_frames=metas[0]["reported_frames"],
        warnings=list(metas[0]["warnings"]), frame_times=_frame_times(metas[0]),
    )  # fmt: skip
    kept = []
    for seg, meta in zip(segments, metas, strict=True):
        kept.append(seg)
        video.num_decoded = max(video.num_decoded, meta["num_decoded"])
        end = float(seg["end_s"])
        # the video ended inside this segment: decoding stopped before the segment's end (its
        # last frame's time, where the decoder says so: a variable frame rate's real times)
        ended = meta.get("reached_end")
        if ended is None:
            ended = meta["num_decoded"] >= first_frame_at(end, video.fps)
        if end >= 0 and not ended:
            break
    if len(segments) > 1:  # a single segment was decoded whole, with these checks
        finish_checks(path, video.num_decoded, video.reported_frames, video.warnings)

    kept = [s for s in kept if len(s["indices"])]
    if not kept:  # assemble says "no frames could be decoded"
        return assemble(path, video, [], [], [])

    def cat(key, dtype):
        return np.concatenate([np.asarray(s[key], dtype) for s in kept])

    return assemble(
        path,
        video,
        cat("embeddings", np.float32),
        cat("indices", np.int64),
        cat("times", np.float64),
    )

"""Frame sampling: decode a video file and sample RGB frames by timestamp.

The sampler streams: it holds at most one batch of sampled frames at a time, so memory does
not grow with the length of the video. The number of decoded frames is counted while decoding,
never taken from the container header (headers over- and under-report; damaged files lie about
their frame rate).

>>> sampler = FrameSampler(sample_fps=2.0, batch_size=16)            # doctest: +SKIP
>>> stream = sampler.open("clip.mp4")                                 # doctest: +SKIP
>>> for batch in stream:                                              # doctest: +SKIP
...     batch.frames.shape, batch.indices, batch.times                # (N,H,W,3) uint8
>>> stream.num_decoded                                                # doctest: +SKIP

A sampler with a window (``start_s``/``end_s``) yields only the window's part of the samples the
whole video would give, skipping to its start where the backend can (PyAV, OpenCV): a long video
can be
decoded in segments, by several processes, with the same result."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

from vad.media.decoders import _OPENERS, BACKEND_NAMES, BACKENDS
from vad.media.files import _is_plain, _is_regular_file, check_input_file, looks_like_text
from vad.media.frames import FrameBatch, VideoError, VideoStream, _NoFrames, _Unavailable

log = logging.getLogger(__name__)


class FrameSampler:
    """Decodes a video and samples frames at ``sample_fps`` by timestamp.

    Parameters
    ----------
    sample_fps : frames per second to sample; ``None`` or 0 keeps every decoded frame.
    batch_size : number of sampled frames per yielded batch.
    backend : ``"auto"`` (PyAV, then OpenCV, then decord, each when the one before cannot
        open the file), ``"pyav"``, ``"opencv"`` or ``"decord"``. PyAV gives each frame's
        presentation timestamp exactly, so variable-frame-rate files (many IP cameras and
        phones) are sampled at their real times; OpenCV and decord give the timestamps their
        FFmpeg reports where those are usable (not for AVI files with B-frames: there they
        fall back to frame index / rate).
    resize_short : if set, sampled frames are resized at decode so their short side is at least
        this many pixels larger sizes are left alone (keeps later preprocessing cheap).
    start_s, end_s : only the frames whose time is in ``[start_s, end_s)``: the samples the
        whole video has there (``num_decoded`` counts up to the window's last frame, and the
        whole-video checks are left to the caller). See :meth:`window`.
    """

    def __init__(
        self,
        sample_fps: float | None = 2.0,
        batch_size: int = 32,
        backend: str = "auto",
        resize_short: int | None = None,
        start_s: float | None = None,
        end_s: float | None = None,
    ):
        if backend not in BACKENDS:
            raise ValueError(f"unknown video backend {backend!r}; choose from {BACKENDS}")
        if sample_fps is not None and sample_fps < 0:
            raise ValueError(f"sample_fps must be positive, got {sample_fps}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.sample_fps = sample_fps
        self.batch_size = batch_size
        self.backend = backend
        self.resize_short = resize_short
        self.start_s = start_s
        self.end_s = end_s

    def window(self, start_s: float, end_s: float | None) -> FrameSampler:
        """This sampler, limited to the frames whose time is in ``[start_s, end_s)`` (``None``:
        to the end)."""
        return FrameSampler(
            self.sample_fps, self.batch_size, self.backend, self.resize_short, start_s, end_s
        )

    def open(self, path: str | Path) -> VideoStream:
        path = Path(path)
        check_input_file(path)
        order = [self.backend]
        if self.backend == "auto":
            # windows too (the Ray engine's segments): PyAV and OpenCV both skip to the window
            order = ["pyav", "opencv", "decord"]
        failed: list[str] = []  # backends that cannot open the file at all
        opened_without_frames = False
        # a pipe or a device is read once: the next backend would wait for bytes already gone
        once = not _is_regular_file(path)
        for name in order:
            opener = _OPENERS[name]
            seek = {"start_s": self.start_s} if name != "decord" and self.start_s else {}
            try:
                info, frames_iter = opener(path, self.resize_short, **seek)
            except _NoFrames:
                opened_without_frames = True
                if once:
                    break
                continue
            except _Unavailable:
                continue
            except VideoError as exc:
                log.debug("%s", exc)
                failed.append(BACKEND_NAMES[name])
                if once:
                    break
                continue
            window = None
            if self.start_s is not None or self.end_s is not None:
                window = (self.start_s or 0.0, self.end_s)
            return VideoStream(path, info, frames_iter, self.batch_size, self.sample_fps, window)
        if not once and looks_like_text(path):  # FFmpeg's tty demuxer opens text as ANSI art
            raise VideoError(f"{path}: not a video (it is a text file)")
        if opened_without_frames:
            raise VideoError(
                f"{path}: no frames could be decoded (a video header but no readable frames)"
            )
        if not failed:
            raise VideoError(f"{path}: cannot decode: {BACKEND_NAMES[order[-1]]} is not installed")
        names = ", ".join(failed[:-1]) + " and " + failed[-1] if len(failed) > 1 else failed[0]
        raise VideoError(f"{path}: cannot decode: not a video ({names} cannot open it)")

    def frames(self, path: str | Path) -> Iterator[FrameBatch]:
        """Convenience: iterate over the sampled batches of ``path``."""
        yield from self.open(path)


def probe_num_frames(path: str | Path) -> int:
    """Count decodable frames without converting them (fast: grab only)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    count = 0
    try:
        while cap.grab():
            count += 1
    finally:
        cap.release()
    return count


def estimate_samples(path: str | Path, sample_fps: float | None) -> int | None:
    """How many frames sampling ``path`` at ``sample_fps`` will take, from the container's
    duration and frame rate (no decoding; ``None`` when it cannot tell). For progress bars:
    containers can be wrong."""
    try:
        import av

        with av.open(str(path), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            duration = None
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            elif container.duration:
                duration = container.duration / 1_000_000  # AV_TIME_BASE
            rate = float(stream.average_rate or stream.guessed_rate or 0) or None
            frames = int(stream.frames or 0) or (round(duration * rate) if duration and rate
                                                  else 0)  # fmt: skip
    except Exception:  # noqa: BLE001 - not a video, no PyAV, a pipe: no estimate
        return None
    if not sample_fps:
        return frames or None
    if duration is None and frames and rate:
        duration = frames / rate
    if not duration:
        return None
    count = max(1, math.ceil(duration * sample_fps - 1e-9))
    return min(count, frames) if frames else count


ESTIMATE_BUDGET_S = 2.0  # time spent estimating a batch's length before extrapolating


def estimate_samples_batch(paths, sample_fps: float | None) -> list[int]:
    """:func:`estimate_samples` for each path (at least 1 each); after
    :data:`ESTIMATE_BUDGET_S` seconds the rest get the average so far (a huge batch does not
    wait for its progress bar)."""
    import time

    t0 = time.monotonic()
    out: list[int | None] = []
    for path in paths:
        ok = _is_plain(path)
        within = time.monotonic() - t0 < ESTIMATE_BUDGET_S
        out.append(estimate_samples(path, sample_fps) if ok and within else None)
    known = [n for n in out if n]
    fill = round(sum(known) / len(known)) if known else 1
    return [max(1, n or fill) for n in out]

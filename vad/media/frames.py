"""What decoding produces, shared by every backend: :class:`FrameBatch` (sampled RGB frames
with their decoded-frame indices and times), :class:`VideoInfo` (what the container header
says, kept apart from what decoding finds), :class:`VideoStream` (iterates one video's batches,
choosing frames by timestamp and counting the decoded frames) and the frame-time helpers.
:class:`VideoError` is every decoding problem, naming the file."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PROGRESS_EVERY = 128


class VideoError(RuntimeError):
    """A video cannot be opened or decoded. The message names the file and the problem."""


class _NoFrames(VideoError):
    """The container opens but not one frame decodes (header only, or damaged throughout)."""


class _Unavailable(VideoError):
    """The backend is not installed."""


@dataclass
class FrameBatch:
    """Sampled RGB frames (N,H,W,3 uint8) with their decoded-frame indices and times (s)."""

    frames: np.ndarray
    indices: np.ndarray
    times: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


@dataclass
class VideoInfo:
    """What the container says, kept apart from what decoding finds."""

    path: str
    fps: float
    reported_frames: int
    width: int
    height: int
    backend: str
    warnings: list[str] = field(default_factory=list)


def sample_times(duration_s: float, sample_fps: float) -> np.ndarray:
    """Target sample times ``0, 1/f, 2/f, ...`` strictly before ``duration_s``."""
    count = max(1, math.ceil(duration_s * sample_fps - 1e-9))
    return np.arange(count) / sample_fps


class _Selector:
    """Decides, frame by frame in decode order, which frames are sampled.

    A frame at time t is taken when t reaches the next target time k / sample_fps, so sampling
    follows timestamps, not frame counts: a 29.97 fps clip sampled at 2 fps yields frames near
    0.0 s, 0.5 s, 1.0 s, ... regardless of its frame rate.
    """

    def __init__(self, sample_fps: float | None):
        self.period = 0.0 if not sample_fps else 1.0 / sample_fps
        self.next_time = 0.0

    def take(self, time_s: float) -> bool:
        if self.period == 0.0:
            return True
        if time_s + 1e-6 < self.next_time:
            return False
        # Skip targets the stream jumped over (variable frame rate, dropped frames).
        steps = math.floor((time_s + 1e-6 - self.next_time) / self.period) + 1
        self.next_time += steps * self.period
        return True


class VideoStream:
    """Iterates over :class:`FrameBatch` of one video; ``num_decoded`` is final after iteration."""

    def __init__(self, path: Path, info: VideoInfo, frames_iter, batch_size: int, sample_fps,
                 window: tuple[float, float | None] | None = None):  # fmt: skip
        self.path = path
        self.window = window
        self.info = info
        self._frames_iter = frames_iter
        self._batch_size = batch_size
        self._sample_fps = sample_fps
        self.num_decoded = 0
        self._times: list[float] = []  # every decoded frame's timestamp
        self.finished = False
        # a frame at or after the window's end was seen: the video goes on past the window
        self.reached_end = False
        self.on_progress = None  # called with the decoded count every PROGRESS_EVERY frames

    @property
    def fps(self) -> float:
        return self.info.fps

    @property
    def warnings(self) -> list[str]:
        return self.info.warnings

    def __iter__(self) -> Iterator[FrameBatch]:
        selector = _Selector(self._sample_fps)
        start_s, end_s = self.window or (0.0, None)
        frames, indices, times = [], [], []
        for index, time_s, grab in self._frames_iter:
            if end_s is not None and time_s >= end_s:
                self.reached_end = True
                break
            self._times.append(time_s)  # frame ``index``'s time, also before the window
            if time_s >= start_s:
                self.num_decoded = index + 1
            if self.on_progress is not None and index % PROGRESS_EVERY == 0:
                self.on_progress(self.num_decoded)
            # frames before the window only move the selector, as they would in the whole video
            if not selector.take(time_s) or time_s < start_s:
                continue
            frame = grab()
            if frame is None:  # a frame that grabs but does not decode: keep its slot, skip it
                continue
            frames.append(frame)
            indices.append(index)
            times.append(time_s)
            if len(frames) == self._batch_size:
                yield _make_batch(frames, indices, times)
                frames, indices, times = [], [], []
        if frames:
            yield _make_batch(frames, indices, times)
        self.finished = True
        if self.window is None:  # frame counts are facts of the whole video
            self._finish_checks()

    @property
    def frame_times(self) -> np.ndarray | None:
        """Every decoded frame's timestamp (s), or ``None`` when they are ``index / fps`` (a
        constant frame rate): see :func:`irregular_times`."""
        times = np.asarray(self._times[: self.num_decoded], dtype=np.float64)
        return irregular_times(times, self.fps)

    def _finish_checks(self) -> None:
        finish_checks(self.path, self.num_decoded, self.info.reported_frames, self.info.warnings)


def finish_checks(path, num_decoded: int, reported: int, warnings: list[str]) -> None:
    """What a whole video's decoded frame count says: none (:class:`VideoError`), or not the
    header's count (a warning appended to ``warnings``)."""
    if num_decoded == 0:
        raise VideoError(f"{path}: no frames could be decoded")
    if reported > 0 and abs(reported - num_decoded) > max(1, 0.01 * reported):
        warnings.append(f"decoded {num_decoded} frames but the header reports {reported}")


TIME_TOLERANCE_S = 1e-4


def irregular_times(times: np.ndarray, fps: float) -> np.ndarray | None:
    """``times`` when they differ from ``index / fps`` (a variable frame rate, dropped frames),
    else ``None``: constant-rate videos need no per-frame list."""
    times = np.asarray(times, dtype=np.float64)
    if len(times) == 0 or np.allclose(times, np.arange(len(times)) / fps, rtol=0,
                                      atol=TIME_TOLERANCE_S):  # fmt: skip
        return None
    return times


def frame_times(num_frames: int, fps: float, times: np.ndarray | None = None) -> np.ndarray:
    """Timestamps (s) of frames ``0 .. num_frames-1``: ``times`` when given, else ``i / fps``."""
    if times is not None and len(times) == num_frames:
        return np.asarray(times, dtype=np.float64)
    return np.arange(num_frames, dtype=np.float64) / fps


def _make_batch(frames, indices, times) -> FrameBatch:
    return FrameBatch(
        frames=np.stack(frames),
        indices=np.asarray(indices, dtype=np.int64),
        times=np.asarray(times, dtype=np.float64),
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__

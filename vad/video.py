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
whole video would give, seeking to its start where the backend can (OpenCV): a long video can be
decoded in segments, by several processes, with the same result.
"""

from __future__ import annotations

import logging
import math
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BACKENDS = ("auto", "opencv", "decord")
VIDEO_EXTENSIONS = tuple(
    ".mp4 .avi .mkv .mov .m4v .mpg .mpeg .wmv .flv .webm .ts .3gp .asf .m2ts .mts .h264 .h265 "
    ".hevc".split()
)
FALLBACK_FPS = 25.0
PROGRESS_EVERY = 128
log = logging.getLogger(__name__)


class VideoError(RuntimeError):
    """A video cannot be opened or decoded. The message names the file and the problem."""


class _NoFrames(VideoError):
    """The container opens but not one frame decodes (header only, or damaged throughout)."""


class _Unavailable(VideoError):
    """The backend is not installed."""


BACKEND_NAMES = {"opencv": "OpenCV", "decord": "decord"}


def check_input_file(path: Path) -> None:
    """Problems visible without decoding: missing, a folder, empty, unreadable.
    Raises :class:`VideoError` naming the file. (Pipes and devices are left to the decoders.)"""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise VideoError(f"{path}: no such file") from None
    except OSError as exc:
        raise VideoError(f"{path}: cannot access it ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise VideoError(f"{path}: is a directory, not a video file")
    if not stat.S_ISREG(st.st_mode):
        return
    if st.st_size == 0:
        raise VideoError(f"{path}: empty file")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise VideoError(f"{path}: cannot read it ({exc.strerror})") from None


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
        self.finished = False
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
                break
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

    def _finish_checks(self) -> None:
        finish_checks(self.path, self.num_decoded, self.info.reported_frames, self.info.warnings)


def finish_checks(path, num_decoded: int, reported: int, warnings: list[str]) -> None:
    """What a whole video's decoded frame count says: none (:class:`VideoError`), or not the
    header's count (a warning appended to ``warnings``)."""
    if num_decoded == 0:
        raise VideoError(f"{path}: no frames could be decoded")
    if reported > 0 and abs(reported - num_decoded) > max(1, 0.01 * reported):
        warnings.append(f"decoded {num_decoded} frames but the header reports {reported}")


def _make_batch(frames, indices, times) -> FrameBatch:
    return FrameBatch(
        frames=np.stack(frames),
        indices=np.asarray(indices, dtype=np.int64),
        times=np.asarray(times, dtype=np.float64),
    )


def _valid_fps(fps: float) -> bool:
    return math.isfinite(fps) and 0.5 <= fps <= 1000.0


class FrameSampler:
    """Decodes a video and samples frames at ``sample_fps`` by timestamp.

    Parameters
    ----------
    sample_fps : frames per second to sample; ``None`` or 0 keeps every decoded frame.
    batch_size : number of sampled frames per yielded batch.
    backend : ``"auto"`` (OpenCV, then decord when OpenCV cannot decode), ``"opencv"`` or
        ``"decord"``.
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
        order = ["opencv", "decord"] if self.backend == "auto" else [self.backend]
        failed: list[str] = []  # backends that cannot open the file at all
        opened_without_frames = False
        for name in order:
            opener = _open_opencv if name == "opencv" else _open_decord
            seek = {"start_s": self.start_s} if name == "opencv" and self.start_s else {}
            try:
                info, frames_iter = opener(path, self.resize_short, **seek)
            except _NoFrames:
                opened_without_frames = True
                continue
            except _Unavailable:
                continue
            except VideoError as exc:
                log.debug("%s", exc)
                failed.append(BACKEND_NAMES[name])
                continue
            window = None
            if self.start_s is not None or self.end_s is not None:
                window = (self.start_s or 0.0, self.end_s)
            return VideoStream(path, info, frames_iter, self.batch_size, self.sample_fps, window)
        if opened_without_frames:
            raise VideoError(
                f"{path}: no frames could be decoded (a video header but no readable frames)"
            )
        if not failed:
            raise VideoError(f"{path}: cannot decode: decord is not installed")
        raise VideoError(
            f"{path}: cannot decode: not a video ({' and '.join(failed)} cannot open it)"
        )

    def frames(self, path: str | Path) -> Iterator[FrameBatch]:
        """Convenience: iterate over the sampled batches of ``path``."""
        yield from self.open(path)


def _resize_short_side(frame: np.ndarray, short: int | None) -> np.ndarray:
    if not short:
        return frame
    import cv2

    h, w = frame.shape[:2]
    scale = short / min(h, w)
    if scale >= 1.0:
        return frame
    size = (max(short, round(w * scale)), max(short, round(h * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _open_opencv(path: Path, resize_short: int | None, start_s: float | None = None):
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{path}: OpenCV cannot open it (not a video, or an unknown format)")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
    height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    warnings: list[str] = []
    if not _valid_fps(fps):
        warnings.append(f"header frame rate {fps!r} is invalid; assuming {FALLBACK_FPS} fps")
        fps = FALLBACK_FPS
    if not cap.grab():
        cap.release()
        raise _NoFrames(f"{path}: no frames could be decoded")
    info = VideoInfo(str(path), fps, max(reported, 0), width, height, "opencv", warnings)

    def frames_iter():
        try:
            index = 0
            grabbed = True
            # seek to a frame before start_s; the skipped frames' times still reach the sampler
            first = max(0, math.floor((start_s or 0.0) * fps) - 1)
            if first > 0 and cap.set(cv2.CAP_PROP_POS_FRAMES, first):
                yield from ((i, i / fps, _skipped) for i in range(first))
                index = first
                grabbed = cap.grab()
            while grabbed:

                def grab(cap=cap):
                    ok, frame = cap.retrieve()
                    if not ok or frame is None:
                        return None
                    frame = _resize_short_side(frame, resize_short)
                    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

                # Times from the frame index and the stream rate: container timestamps are
                # missing or off-by-one-frame for many AVI/MPEG-4 files.
                yield index, index / fps, grab
                index += 1
                grabbed = cap.grab()
        finally:
            cap.release()

    return info, frames_iter()


def _skipped() -> None:
    return None


def _open_decord(path: Path, resize_short: int | None):
    try:
        import decord
    except ImportError as exc:
        raise _Unavailable(f"{path}: decord is not installed") from exc
    try:
        probe = decord.VideoReader(str(path), num_threads=1)
        fps = float(probe.get_avg_fps() or 0.0)
        reported = len(probe)
    except Exception as exc:  # decord raises its own DECORDError and RuntimeError
        raise VideoError(f"{path}: decord cannot open it ({_first_line(exc)})") from exc
    try:
        height, width = probe[0].shape[:2]
    except Exception as exc:  # opens, but the first frame does not decode
        raise _NoFrames(f"{path}: no frames could be decoded ({_first_line(exc)})") from exc
    try:
        kwargs = {}
        if resize_short and min(height, width) > resize_short:
            scale = resize_short / min(height, width)
            kwargs = {"width": round(width * scale), "height": round(height * scale)}
        reader = decord.VideoReader(str(path), num_threads=1, **kwargs) if kwargs else probe
    except Exception as exc:  # decord raises its own DECORDError and RuntimeError
        raise VideoError(f"{path}: decord cannot open it ({_first_line(exc)})") from exc
    warnings: list[str] = []
    if not _valid_fps(fps):
        warnings.append(f"header frame rate {fps!r} is invalid; assuming {FALLBACK_FPS} fps")
        fps = FALLBACK_FPS
    info = VideoInfo(str(path), fps, reported, width, height, "decord", warnings)

    def frames_iter():
        reader.seek(0)
        for index in range(reported):
            try:
                frame = reader.next().asnumpy()
            except StopIteration:
                return
            except Exception:  # damaged tail: stop at the last frame that decodes
                return
            yield index, index / fps, (lambda frame=frame: frame)

    return info, frames_iter()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


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


def find_videos(root: str | Path) -> list[Path]:
    """Video files under ``root`` (recursive), sorted, by known extension."""
    root = Path(root)
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
    )

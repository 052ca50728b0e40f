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
decoded in segments, by several processes, with the same result.
"""

from __future__ import annotations

import errno
import heapq
import logging
import math
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BACKENDS = ("auto", "pyav", "opencv", "decord")
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


BACKEND_NAMES = {"pyav": "PyAV", "opencv": "OpenCV", "decord": "decord"}


def check_input_file(path: Path) -> None:
    """Problems visible without decoding: missing, a folder, empty, unreadable.
    Raises :class:`VideoError` naming the file. (Pipes and devices are left to the decoders.)"""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise VideoError(f"{path}: no such file") from None
    except OSError as exc:  # a link loop, a name too long, a folder without permission
        problem = path_problem(path, exc).removeprefix(f"{path}: ")
        raise VideoError(f"{path}: cannot access it ({problem})") from None
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


def _is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def looks_like_text(path: Path, size: int = 4096) -> bool:
    """Whether the file starts like text (UTF-8, no NUL byte, few control characters): every
    video container starts with binary headers.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
    ...     _ = f.write("notes about the cameras"); f.flush()
    ...     looks_like_text(Path(f.name))
    True
    """
    try:
        with open(path, "rb") as f:
            head = f.read(size)
    except OSError:
        return False
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the end of the block is text
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f")
    return controls <= len(text) // 100


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


def _valid_fps(fps: float) -> bool:
    return math.isfinite(fps) and 0.5 <= fps <= 1000.0


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
    base_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
    base_ms = base_ms if math.isfinite(base_ms) else None
    info = VideoInfo(str(path), fps, max(reported, 0), width, height, "opencv", warnings)

    def frames_iter():
        try:
            index = 0
            grabbed = True
            # times count from the first frame's timestamp, read at open (before any seek)
            first_ms, last = base_ms, None
            # seek to a frame before start_s; the skipped frames' times still reach the sampler
            first = max(0, math.floor((start_s or 0.0) * fps) - 1)
            if first > 0 and cap.set(cv2.CAP_PROP_POS_FRAMES, first):
                yield from ((i, i / fps, _skipped) for i in range(first))
                index = first
                last = (first - 1) / fps
                grabbed = cap.grab()
            while grabbed:
                # the timestamp FFmpeg reports for the grabbed frame, counted from the first
                # frame's (AVI files start one frame late); where it is missing or does not
                # advance, one frame period after the last
                ms = cap.get(cv2.CAP_PROP_POS_MSEC)
                first_ms = ms if first_ms is None else first_ms
                t = (ms - first_ms) / 1000.0 if math.isfinite(ms) else math.nan
                if last is not None and not t > last:
                    t = last + 1.0 / fps
                last = t = t if math.isfinite(t) else index / fps

                def grab(cap=cap):
                    ok, frame = cap.retrieve()
                    if not ok or frame is None:
                        return None
                    frame = _resize_short_side(frame, resize_short)
                    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

                yield index, t, grab
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
    stamps = _decord_times(reader, reported)

    def frames_iter():
        reader.seek(0)
        for index in range(reported):
            try:
                frame = reader.next().asnumpy()
            except StopIteration:
                return
            except Exception:  # damaged tail: stop at the last frame that decodes
                return
            t = float(stamps[index]) if stamps is not None else index / fps
            yield index, t, (lambda frame=frame: frame)

    return info, frames_iter()


def _open_pyav(path: Path, resize_short: int | None, start_s: float | None = None):
    """PyAV (FFmpeg): each frame's time is its presentation timestamp, counted from the first
    frame's, so variable-frame-rate files are sampled at their real times. With ``start_s``,
    decoding starts at the last keyframe at or before it (see :func:`_pyav_skip_to`)."""
    try:
        import av
    except ImportError as exc:
        raise _Unavailable(f"{path}: PyAV is not installed") from exc
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001 - av.error.* for anything FFmpeg cannot open
        raise VideoError(f"{path}: PyAV cannot open it ({_first_line(exc)})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: PyAV cannot open it (no video stream)")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    warnings: list[str] = []
    if not _valid_fps(fps):
        warnings.append(f"header frame rate {fps!r} is invalid; assuming {FALLBACK_FPS} fps")
        fps = FALLBACK_FPS
    skipped: Iterable = ()  # stand-ins for the frames before the keyframe decoding starts at
    try:
        packets = container.demux(stream)
        if start_s:
            skipped, packets = _pyav_skip_to(packets, stream, start_s)
        frames = _pyav_frames(packets)
        first = next(frames)
    except StopIteration:
        container.close()
        raise _NoFrames(f"{path}: no frames could be decoded") from None
    except Exception as exc:  # noqa: BLE001 - the demuxer fails on the first packet
        container.close()
        raise VideoError(f"{path}: PyAV cannot open it ({_first_line(exc)})") from exc
    info = VideoInfo(str(path), fps, max(int(stream.frames or 0), 0), first.width, first.height,
                     "pyav", warnings)  # fmt: skip
    time_base = float(stream.time_base) if stream.time_base else 0.0

    def frames_iter():
        try:
            last = -1.0 / fps
            ordered = _presentation_times(_chain(iter(skipped), first, frames))
            for index, (frame, pts) in enumerate(ordered):
                if pts is not None and time_base:
                    t = (pts - start_pts[0]) * time_base if start_pts else 0.0
                    start_pts[:] = start_pts or [pts]
                else:  # no timestamp: one frame after the last one
                    t = last + 1.0 / fps
                # a damaged file can repeat or step back a timestamp: keep times increasing
                t = max(t, last + 1e-6) if index else max(t, 0.0)
                last = t

                def grab(frame=frame):
                    rgb = frame.to_ndarray(format="rgb24")
                    return _resize_short_side(rgb, resize_short)

                yield index, t, _skipped if isinstance(frame, _SkippedFrame) else grab
        finally:
            container.close()

    start_pts: list[int] = []
    return info, frames_iter()


REORDER_DEPTH = 16  # frames: more than any codec's B-frame reordering


def _presentation_times(frames):
    """``(frame, pts)`` with the k-th frame (decoders output frames in presentation order) given
    the k-th smallest timestamp among the frames around it. Containers without presentation
    timestamps (AVI) hand FFmpeg decode-order stamps, so the frames of a file with B-frames come
    out as 1, 2, 3, 5, 4, 6, ...; sorting within the reordering depth restores 1, 2, 3, 4, 5, 6.
    Where the timestamps are already in order (MP4, MKV), this changes nothing."""
    pending: list = []
    stamps: list[int] = []
    for frame in frames:
        pending.append(frame)
        if frame.pts is not None:
            heapq.heappush(stamps, frame.pts)
        if len(pending) > REORDER_DEPTH:
            out = pending.pop(0)
            yield out, (heapq.heappop(stamps) if out.pts is not None and stamps else None)
    for out in pending:
        yield out, (heapq.heappop(stamps) if out.pts is not None and stamps else None)


def _chain(*parts):
    for part in parts:
        if isinstance(part, Iterator):
            yield from part
        else:
            yield part


@dataclass
class _SkippedFrame:
    """A frame before a window that is not decoded: only its timestamp (its packet's)."""

    pts: int | None


def _pyav_skip_to(packets, stream, start_s: float):
    """Demux (without decoding) up to ``start_s`` and start decoding at the last keyframe at or
    before it. Returns stand-ins for the frames before that keyframe, one per packet, with
    their packets' timestamps, and the packets from the keyframe on. Demuxing (not
    ``container.seek``) is what counts the frames before the window, so a window's frames keep
    the indices and the times (and the sampler its phase) that the whole video gives them.

    Only the timestamps of the packets before the keyframe are kept, never the packets: a
    window an hour into a video would otherwise hold an hour of compressed video at once (and
    the heap it leaves behind stayed with the Ray actor that decoded it, docs/ray.md)."""
    time_base = float(stream.time_base) if stream.time_base else 0.0
    before: list[int | None] = []  # timestamps of the packets before the current keyframe
    buffered: list = []  # packets from the last keyframe at or before start_s
    base = None
    rest = iter(packets)
    for packet in rest:
        if packet.size == 0:  # the demuxer's end-of-stream packet: decoding flushes on it
            buffered.append(packet)
            break
        pts = packet.pts
        if pts is not None:
            base = pts if base is None else min(base, pts)
        t = (pts - base) * time_base if pts is not None and time_base else None
        if packet.is_keyframe and t is not None and t <= start_s:
            before.extend(p.pts for p in buffered)
            buffered = []
        buffered.append(packet)
        if t is not None and t > start_s:
            break
    return (_SkippedFrame(pts) for pts in before), _chain(iter(buffered), rest)


MAX_BAD_PACKETS = 1000  # consecutive packets that fail to decode before giving up on the rest


def _pyav_frames(packets):
    """Decoded frames in presentation order; a packet that does not decode (a damaged part) is
    skipped, as OpenCV skips it, and decoding goes on with the next."""
    import av

    bad = 0
    for packet in packets:
        try:
            decoded = packet.decode()
        except av.error.FFmpegError:
            bad += 1
            if bad > MAX_BAD_PACKETS:
                return
            continue
        bad = 0
        yield from decoded


def _decord_times(reader, count: int) -> np.ndarray | None:
    """decord's per-frame timestamps from the first frame's, where they are usable: finite and
    increasing (right for MP4 and MKV, garbage for AVI files with B-frames); else ``None``
    (times from the frame index and rate)."""
    try:
        stamps = np.asarray(reader.get_frame_timestamp(np.arange(count)), np.float64)[:, 0]
    except Exception:  # noqa: BLE001 - older decord, or a file it cannot index
        return None
    stamps = stamps - stamps[0] if len(stamps) else stamps
    if len(stamps) != count or not np.all(np.isfinite(stamps)) or np.any(np.diff(stamps) <= 0):
        return None
    return stamps


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


_OPENERS = {"pyav": _open_pyav, "opencv": _open_opencv, "decord": _open_decord}


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


def _is_plain(path) -> bool:
    try:
        return Path(path).is_file()  # not a FIFO or device: opening one could block
    except OSError:
        return False


MAX_FOLDER_DEPTH = 256  # folder levels searched below an input folder
TOO_DEEP = f"folders nested too deep (more than {MAX_FOLDER_DEPTH} levels); not searched"


def path_problem(path: str | Path, exc: BaseException) -> str:
    """``PATH: problem`` for an error met while looking at a path, in a user's words."""
    known = {
        errno.ENAMETOOLONG: "name too long",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ELOOP: "symbolic link loop",
        errno.ENOENT: "no such file or folder",
        errno.ENOTDIR: "a part of the path is not a folder",
    }
    if isinstance(exc, OSError):
        problem = known.get(exc.errno) or (exc.strerror or type(exc).__name__).lower()
    elif isinstance(exc, RecursionError):
        problem = "folders nested too deep"
    elif isinstance(exc, RuntimeError) and "loop" in str(exc).lower():
        problem = "symbolic link loop"  # pathlib.Path.resolve() on Python < 3.13
    else:
        problem = _first_line(exc)
    return f"{path}: {problem}"


def safe_resolve(path: Path) -> Path:
    """``path.resolve()``, or the absolute path where resolving fails (a link loop, a name
    too long): never raises, for naming and de-duplicating inputs."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def find_videos(root: str | Path, on_error=None) -> list[Path]:
    """Video files under ``root`` (recursive), sorted, by known extension.

    The walk is iterative (no recursion limit), does not follow links to folders (no loops),
    and stops :data:`MAX_FOLDER_DEPTH` levels down. A folder it cannot read (no permission,
    a name too long) is passed to ``on_error(message)`` as ``PATH: problem`` (default: a
    warning) and the walk goes on."""
    if on_error is None:
        on_error = log.warning
    root = Path(root)
    found: list[Path] = []
    stack: list[tuple[str, int]] = [(str(root), 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if depth + 1 > MAX_FOLDER_DEPTH:
                                on_error(f"{entry.path}: {TOO_DEEP}")
                            else:
                                stack.append((entry.path, depth + 1))
                        elif (
                            os.path.splitext(entry.name)[1].lower() in VIDEO_EXTENSIONS
                            and entry.is_file()
                        ):
                            found.append(Path(entry.path))
                    except OSError as exc:
                        on_error(path_problem(entry.path, exc))
        except OSError as exc:
            on_error(path_problem(folder, exc))
    return sorted(found)

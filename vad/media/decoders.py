"""The decoder backends: PyAV (exact per-frame presentation timestamps), OpenCV and decord.
Each ``_open_<name>(path, resize_short[, start_s])`` returns ``(VideoInfo, frames)``, where
``frames`` yields ``(index, time_s, grab)`` in decode order and ``grab()`` decodes that frame
(RGB, N,H,W,3 uint8) only when the sampler takes it. To add a backend, write its opener here
and list it in :data:`_OPENERS` and :data:`BACKENDS` (the ``--backend`` choices)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vad.media.frames import VideoError, VideoInfo, _first_line, _NoFrames, _Unavailable

BACKENDS = ("auto", "pyav", "opencv", "decord")


FALLBACK_FPS = 25.0


BACKEND_NAMES = {"pyav": "PyAV", "opencv": "OpenCV", "decord": "decord"}


def _valid_fps(fps: float) -> bool:
    return math.isfinite(fps) and 0.5 <= fps <= 1000.0


def _header_fps(fps: float, warnings: list[str]) -> float:
    """The header's frame rate, or :data:`FALLBACK_FPS` (with a warning) where it is unusable."""
    if _valid_fps(fps):
        return fps
    warnings.append(f"header frame rate {fps!r} is invalid; assuming {FALLBACK_FPS} fps")
    return FALLBACK_FPS


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
    fps = _header_fps(fps, warnings)
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
    fps = _header_fps(fps, warnings)
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
    fps = _header_fps(fps, warnings)
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


_OPENERS = {"pyav": _open_pyav, "opencv": _open_opencv, "decord": _open_decord}

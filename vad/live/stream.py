"""Live video sources for ``vad watch``: anything FFmpeg opens, read by PyAV in a thread.

A source is ``rtsp://``, ``rtmp://``, ``http(s)://`` (MJPEG, HLS, MPEG-TS), ``udp://``, ``tcp://``,
``srt://``, a webcam (``/dev/video0`` or an index such as ``0``) or a file. Each
:class:`StreamReader` thread decodes its source, keeps one frame per ``1 / sample_fps`` seconds of
stream time, and hands it on with the wall-clock time it was captured.

A live source that drops (an error, or the server ending the stream) is reopened with
exponential backoff and each change is reported as a :class:`StreamStatus`; nothing a source
does raises out of its thread. A file ends when it ends (``loop=True`` replays it), and
``realtime=True`` paces it by its timestamps as if it were live.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vad.live.health import PictureStats, measure_picture

log = logging.getLogger(__name__)

ARRIVAL_TIMED_FORMATS = {"mpjpeg", "mjpeg", "jpeg_pipe", "image2pipe"}
NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp")


class SourceError(ValueError):
    """A source that can never be opened (a missing file): one line naming it."""


@dataclass(frozen=True)
class SourceSpec:
    """How to open one source: the URL or path given to FFmpeg, its demuxer and options."""

    name: str  # as the user wrote it; names the source in every record
    url: str
    kind: str  # "network", "webcam" or "file"
    format: str | None = None
    options: dict = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.kind != "file"


def parse_source(source: str) -> SourceSpec:
    """Classify a source string; a missing file is a :class:`SourceError`."""
    text = str(source).strip()
    if not text:
        raise SourceError("empty source")
    scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", text)
    if scheme:
        name = scheme.group(1).lower()
        if name not in NETWORK_SCHEMES:
            raise SourceError(f"{text}: unsupported scheme {name}:// (use {NETWORK_SCHEMES})")
        options = {"rtsp_transport": "tcp"} if name.startswith("rtsp") else {}
        return SourceSpec(text, text, "network", None, options)
    if text.isdigit():
        return SourceSpec(text, f"/dev/video{int(text)}", "webcam", "v4l2")
    if text.startswith("/dev/video"):
        return SourceSpec(text, text, "webcam", "v4l2")
    path = Path(text)
    if not path.exists():
        raise SourceError(f"{text}: no such file (or a URL without a scheme such as rtsp://)")
    if path.is_dir():
        raise SourceError(f"{text}: is a folder; give video files or stream URLs")
    return SourceSpec(text, str(path), "file")


@dataclass
class SampledFrame:
    """One sampled frame. ``time_s``: seconds of stream time since the source first delivered
    a frame (continuous across reconnects); ``wall_time``: when it was captured (UNIX time)."""

    source: str
    index: int
    time_s: float
    wall_time: float
    pixels: object  # whatever the reader's ``transform`` made of the (1,H,W,3) uint8 frame
    lag_s: float = 0.0  # how far the reader was behind the stream when it got this frame


@dataclass
class StreamStatus:
    """A change in a source's connection: ``connected``, ``disconnected`` (with the reason and
    the delay before the next attempt) or ``ended`` (a file reached its end)."""

    source: str
    state: str
    message: str = ""
    attempt: int = 0
    retry_in_s: float | None = None
    wall_time: float = field(default_factory=time.time)

    def record(self) -> dict:
        out = {"type": "status", "source": self.source, "state": self.state}
        out["wall_time"] = round(self.wall_time, 6)
        out["attempt"] = self.attempt
        if self.message:
            out["message"] = self.message
        if self.retry_in_s is not None:
            out["retry_in_s"] = round(self.retry_in_s, 3)
        return out


class FrameQueue:
    """Bounded queue of sampled frames shared by all readers.

    A live source never waits for the scorer: when the queue is full the oldest frame is
    dropped (and counted), so latency stays bounded. A file read faster than real time waits
    for room instead (nothing of a file is skipped)."""

    def __init__(self, maxsize: int = 256):
        if maxsize < 1:
            raise ValueError(f"queue size must be at least 1, got {maxsize}")
        self.maxsize = maxsize
        self._items: deque[SampledFrame] = deque()
        self._cond = threading.Condition()
        self.dropped: dict[str, int] = {}
        self.received: dict[str, int] = {}

    def put(self, item: SampledFrame, block: bool, stop: threading.Event) -> bool:
        with self._cond:
            if block:
                while len(self._items) >= self.maxsize and not stop.is_set():
                    self._cond.wait(0.1)
                if stop.is_set():
                    return False
            elif len(self._items) >= self.maxsize:
                old = self._items.popleft()
                self.dropped[old.source] = self.dropped.get(old.source, 0) + 1
            self._items.append(item)
            self.received[item.source] = self.received.get(item.source, 0) + 1
            self._cond.notify_all()
            return True

    def get_batch(self, max_items: int, timeout: float) -> list[SampledFrame]:
        """Up to ``max_items`` frames: waits up to ``timeout`` for the first, not for more."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            out = []
            while self._items and len(out) < max_items:
                out.append(self._items.popleft())
            if out:
                self._cond.notify_all()
            return out

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class _Selector:
    """Keep one frame per ``1 / fps`` seconds of stream time (the first at or after each tick)."""

    def __init__(self, fps: float):
        self.step = 1.0 / fps
        self.next_t: float | None = None

    def take(self, t: float) -> bool:
        if self.next_t is None or t >= self.next_t - 1e-6:
            base = t if self.next_t is None else self.next_t
            self.next_t = base + self.step
            if self.next_t <= t:  # a gap in the stream: restart the ticks here
                self.next_t = t + self.step
            return True
        return False


def _identity(frames: np.ndarray):
    return frames


class StreamReader(threading.Thread):
    """Read one source in a daemon thread until ``stop`` is set (or a file ends).

    Each sampled frame goes to ``frames`` (see :class:`FrameQueue`); each connection change
    to ``on_status``. ``transform`` turns the (1,H,W,3) uint8 RGB frame into what is queued
    (``vad watch`` resizes to the model's input here, so queued frames stay small).
    ``on_frame``, when given, is called with each sampled frame and its picture statistics
    (:func:`vad.live.health.measure_picture`, every ``picture_step``-th pixel) as it is delivered,
    before it is queued (so a frame later dropped from a full queue is still seen)."""

    def __init__(
        self,
        spec: SourceSpec,
        sample_fps: float,
        frames: FrameQueue,
        stop: threading.Event,
        on_status: Callable[[StreamStatus], None] = lambda s: None,
        transform: Callable[[np.ndarray], object] = _identity,
        realtime: bool = False,
        loop: bool = False,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        timeout_s: float = 10.0,
        max_short_side: int = 480,
        on_frame: Callable[[SampledFrame, PictureStats], None] | None = None,
        picture_step: int = 4,
    ):
        super().__init__(name=f"vad-stream-{spec.name}", daemon=True)
        if not sample_fps > 0:
            raise ValueError(f"sample fps must be positive, got {sample_fps}")
        self.spec = spec
        self.sample_fps = sample_fps
        self.frames = frames
        self.stop = stop
        self.on_status = on_status
        self.transform = transform
        self.realtime = realtime
        self.loop = loop
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.max_short_side = max_short_side
        self.on_frame = on_frame
        self.picture_step = picture_step
        self._luma: np.ndarray | None = None  # the previous sample's, for the picture change
        self.connections = 0
        self.reconnects = 0
        self.samples = 0
        self.last_time_s: float | None = None
        self._t_start: float | None = None

    # -- the thread ------------------------------------------------------------------------

    def run(self) -> None:
        delay = self.backoff_s[0]
        attempt = 0
        while not self.stop.is_set():
            attempt += 1
            delivered = 0
            try:
                delivered, message = self._connection(attempt)
            except Exception as exc:  # noqa: BLE001 - any failure of a source is reported
                message = _first_line(exc)
            if self.stop.is_set():
                break
            if not self.spec.live and not self.loop and message == "end of stream":
                self._status("ended", message, attempt)
                break
            if not self.spec.live and not self.loop and delivered == 0:
                self._status("ended", f"cannot read: {message}", attempt)
                break
            if delivered:
                delay = self.backoff_s[0]  # it worked for a while: start the backoff again
            self._status("disconnected", message, attempt, retry_in_s=delay)
            self.stop.wait(delay)
            delay = min(delay * 2, self.backoff_s[1])
        self.frames.wake()

    def _status(self, state: str, message: str, attempt: int, retry_in_s=None) -> None:
        try:
            self.on_status(StreamStatus(self.spec.name, state, message, attempt, retry_in_s))
        except Exception:  # noqa: BLE001 - a broken status sink must not stop the reader
            log.exception("status callback failed")

    def _connection(self, attempt: int) -> tuple[int, str]:
        """One connection: open, decode and sample until it ends; (samples, why it ended)."""
        import av

        kwargs = {"timeout": (self.timeout_s, self.timeout_s)}
        if self.spec.format:
            kwargs["format"] = self.spec.format
        if self.spec.options:
            kwargs["options"] = dict(self.spec.options)
        container = av.open(self.spec.url, **kwargs)
        try:
            if not container.streams.video:
                return 0, "no video stream"
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            self.connections += 1
            if self.connections > 1:
                self.reconnects += 1
            self._status("connected", "", attempt)
            return self._decode(container, stream)
        finally:
            container.close()

    def _decode(self, container, stream) -> tuple[int, str]:
        now = time.monotonic()
        if self._t_start is None:
            self._t_start = now
        step = 1.0 / self.sample_fps
        if self.last_time_s is None:
            base = 0.0
        elif self.spec.live:  # the stream time lost while disconnected is wall time
            base = max(self.last_time_s + step, now - self._t_start)
        else:
            base = self.last_time_s + step
        selector = _Selector(self.sample_fps)
        first_t = None
        conn_wall = time.monotonic()
        delivered = 0
        decoded = 0
        # MJPEG over HTTP carries no timestamps (FFmpeg invents 25 fps): use the arrival time
        by_arrival = self.spec.live and container.format.name in ARRIVAL_TIMED_FORMATS
        for frame in container.decode(stream):
            if self.stop.is_set():
                return delivered, "stopped"
            t = frame.time
            if t is None or by_arrival:
                t = time.monotonic() - conn_wall
            if first_t is None:
                first_t = t
                first_wall = time.monotonic()  # the stream's clock starts at its first frame
            rel = t - first_t
            decoded += 1
            if not selector.take(rel):
                continue
            if self.realtime and not self.spec.live:
                wait = conn_wall + rel - time.monotonic()
                if wait > 0 and self.stop.wait(wait):
                    return delivered, "stopped"
            # A reader slower than the stream falls behind: the frame was captured ``lag``
            # seconds before it was decoded here (0 for a file read as fast as possible).
            lag = 0.0
            if self.spec.live or self.realtime:
                lag = max(0.0, time.monotonic() - first_wall - rel)
            rgb = self._rgb(frame)[None]
            pixels = self.transform(rgb)
            item = SampledFrame(
                self.spec.name, self.samples, base + rel, time.time() - lag, pixels, lag
            )
            if self.on_frame is not None:
                stats, self._luma = measure_picture(rgb, self._luma, self.picture_step)
                try:
                    self.on_frame(item, stats)
                except Exception:  # noqa: BLE001 - a broken callback must not stop the reader
                    log.exception("frame callback failed")
            block = not (self.spec.live or self.realtime)
            if not self.frames.put(item, block=block, stop=self.stop):
                return delivered, "stopped"
            self.samples += 1
            delivered += 1
            self.last_time_s = base + rel
        if decoded == 0:
            return 0, "no frames decoded"
        return delivered, "end of stream"

    def _rgb(self, frame) -> np.ndarray:
        w, h = frame.width, frame.height
        short = min(w, h)
        if self.max_short_side and short > self.max_short_side:
            scale = self.max_short_side / short
            w, h = max(2, round(w * scale)), max(2, round(h * scale))
            return frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
        return frame.to_ndarray(format="rgb24")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__

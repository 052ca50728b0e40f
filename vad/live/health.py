"""Camera health for ``vad watch``: a source that stops delivering, a picture that is frozen,
black or covered, and a connection that keeps dropping each become a ``health`` record, opened
when the problem has lasted long enough and closed when it is over.

======================  ===========================================================  =========
kind                    opens when                                                   sources
======================  ===========================================================  =========
``offline``             no frame for ``timeout_s`` (wall clock) since the last one,   live
                        or since the watch started: unreachable, refused, or a
                        connection that stalls
``black``               luma mean < 20 and luma std < 10 (of 255) on every sample     all
                        for ``picture_timeout_s`` of stream time
``covered``             luma std < 10 (a nearly uniform picture that is not black:    all
                        a cap, tape or a hand on the lens, defocus, dense fog, a
                        camera turned to a wall) for ``picture_timeout_s``
``frozen``              mean absolute luma change between consecutive samples below   all
                        0.2 grey levels for ``picture_timeout_s`` (a live sensor's
                        noise alone changes a still scene by more than that; a feed
                        that repeats its last frame changes it by 0)
``reconnect_loop``      ``reconnects`` (3) established connections dropped within     live
                        ``reconnect_period_s`` (60 s)
======================  ===========================================================  =========

The picture is measured on every sampled frame, on its luma (BT.601 weights) at every 4th
pixel of every 4th row of the decoded frame (at most 480 px on its short side): about 20 000
values, well under a millisecond. Black, covered and frozen exclude each other in that order (a
black picture does not change either; it is reported once, as black). A picture problem closes
after ``clear_samples`` (2) consecutive good samples, ``offline`` at the next frame, a
reconnect loop after ``reconnect_period_s`` without a drop. "Live" sources are network streams
and webcams: a file does not go offline, and a looping file's restart is no reconnect.

:class:`HealthMonitor` takes its inputs as plain calls with explicit times (``now``), so it is
tested without clocks or threads; :mod:`vad.live.watch` feeds it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

KINDS = ("offline", "black", "covered", "frozen", "reconnect_loop")
PICTURE_KINDS = ("black", "covered", "frozen")
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # BT.601


@dataclass(frozen=True)
class HealthSettings:
    """When a source's problem becomes a ``health`` record (the module docstring's table)."""

    timeout_s: float = 10.0  # --health-timeout: no frame for this long (wall clock)
    picture_timeout_s: float = 30.0  # --picture-timeout: a picture problem this long (stream time)
    black_luma: float = 20.0  # black: mean luma below this ...
    uniform_std: float = 10.0  # ... and luma std below this; covered: std below this
    frozen_change: float = 0.2  # frozen: mean |luma change| below this (grey levels)
    clear_samples: int = 2  # good samples in a row that close a picture problem
    reconnects: int = 3  # reconnect loop: this many dropped connections ...
    reconnect_period_s: float = 60.0  # ... within this many seconds
    grid_step: int = 4  # measure every n-th pixel of every n-th row

    def __post_init__(self):
        for name in ("timeout_s", "picture_timeout_s", "reconnect_period_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number > 0, got {value}")
        if self.clear_samples < 1 or self.reconnects < 1 or self.grid_step < 1:
            raise ValueError("clear_samples, reconnects and grid_step must be at least 1")


@dataclass(frozen=True)
class PictureStats:
    """Luma statistics of one sampled frame (grey levels 0-255): ``mean``, ``std``, and
    ``change``, the mean absolute difference to the source's previous sample (None for the
    first one, or after the frame size changed)."""

    mean: float
    std: float
    change: float | None = None


def measure_picture(
    rgb: np.ndarray, previous: np.ndarray | None = None, step: int = 4
) -> tuple[PictureStats, np.ndarray]:
    """:class:`PictureStats` of an RGB uint8 frame ``(H,W,3)`` or ``(1,H,W,3)``, and the luma
    grid it was measured on (pass it back as ``previous`` with the next frame).

    >>> grey = np.full((8, 8, 3), 128, np.uint8)
    >>> stats, luma = measure_picture(grey, step=2)
    >>> round(stats.mean), stats.std, stats.change
    (128, 0.0, None)
    >>> measure_picture(grey, luma, step=2)[0].change
    0.0
    """
    frame = np.asarray(rgb)
    if frame.ndim == 4:
        frame = frame[0]
    luma = frame[::step, ::step, :3].astype(np.float32) @ LUMA
    change = None
    if previous is not None and previous.shape == luma.shape:
        change = float(np.abs(luma - previous).mean())
    return PictureStats(float(luma.mean()), float(luma.std()), change), luma


def picture_fault(stats: PictureStats, settings: HealthSettings) -> str | None:
    """The picture problem ``stats`` shows (``black``, ``covered``, ``frozen``) or None.

    >>> s = HealthSettings()
    >>> [picture_fault(PictureStats(m, d, c), s) for m, d, c in
    ...  [(5, 2, 0.0), (90, 3, 0.0), (90, 40, 0.0), (90, 40, 3.0), (90, 40, None)]]
    ['black', 'covered', 'frozen', None, None]
    """
    if stats.std < settings.uniform_std:
        return "black" if stats.mean < settings.black_luma else "covered"
    if stats.change is not None and stats.change < settings.frozen_change:
        return "frozen"
    return None


_MESSAGES = {
    "black": "picture black (luma mean {mean:.1f}, std {std:.1f} of 255)",
    "covered": "picture nearly uniform (luma std {std:.1f} of 255): lens covered, out of focus "
    "or facing a wall",
    "frozen": "picture frozen (mean change {change:.2f} grey levels between samples)",
}


class _Problem:
    """One open health problem of one source."""

    def __init__(self, source: str, kind: str, number: int, since: float, message: str, **extra):
        self.source = source
        self.kind = kind
        self.health_id = f"{source}#{kind}{number}"
        self.since = since
        self.message = message
        self.extra = extra

    def record(self, state: str, message: str | None = None, until: float | None = None) -> dict:
        out = {
            "type": "health",
            "state": state,
            "source": self.source,
            "kind": self.kind,
            "health_id": self.health_id,
            "since": round(self.since, 6),
        }
        if until is not None:
            out["until"] = round(until, 6)
            out["duration_s"] = round(max(0.0, until - self.since), 3)
        out["message"] = message or self.message
        out.update(self.extra)
        out["wall_time"] = round(time.time(), 6)
        return out


class _SourceHealth:
    def __init__(self, name: str, live: bool, started: float):
        self.name = name
        self.live = live
        self.last_frame: float = started  # monotonic time of the last frame (or of the start)
        self.ended = False
        self.connected = False
        self.last_message = ""
        self.drops: deque[float] = deque()  # monotonic times of dropped connections
        self.luma: np.ndarray | None = None
        self.fault: str | None = None  # the picture problem the latest samples show
        self.fault_since: tuple[float, float] | None = None  # (stream time, wall time)
        self.good = 0  # good samples in a row
        self.open: dict[str, _Problem] = {}
        self.opened: Counter = Counter()


class HealthMonitor:
    """Turns what the readers and the scorer see into ``health`` records for ``emit``.

    Call :meth:`status` with each connection change and :meth:`frame` with each sampled frame
    as its reader delivers it (from the reader's thread: a scorer that falls behind does not
    make a camera look offline; in stream order per source), :meth:`tick` now and then (it
    opens ``offline`` and closes reconnect loops), and :meth:`close_all` at the end.
    Times: ``now`` is monotonic seconds (``time.monotonic``); ``wall`` UNIX time."""

    def __init__(
        self,
        sources: dict[str, bool],
        emit: Callable[[dict], None],
        settings: HealthSettings | None = None,
        now: float | None = None,
    ):
        self.settings = settings or HealthSettings()
        self.emit = emit
        now = time.monotonic() if now is None else now
        self._lock = threading.Lock()
        self._sources = {name: _SourceHealth(name, live, now) for name, live in sources.items()}

    # -- inputs --------------------------------------------------------------------------------

    def status(self, source: str, state: str, message: str = "", now: float | None = None):
        """A connection change of ``source``: ``connected``, ``disconnected`` or ``ended``."""
        now = time.monotonic() if now is None else now
        records = []
        with self._lock:
            src = self._sources[source]
            if message:
                src.last_message = f"{state}: {message}"
            if state == "ended":
                src.ended = True
                records += self._close(src, "offline", "source ended")
            elif state == "connected":
                src.connected = True
            elif state == "disconnected":
                if src.connected and src.live:  # an established connection dropped
                    src.drops.append(now)
                    records += self._check_loop(src, now)
                src.connected = False
        self._emit(records)

    def frame(
        self,
        source: str,
        time_s: float,
        wall_time: float,
        stats: PictureStats | None,
        now: float | None = None,
    ) -> None:
        """A sampled frame of ``source`` at stream time ``time_s``, captured at ``wall_time``."""
        now = time.monotonic() if now is None else now
        records = []
        with self._lock:
            src = self._sources[source]
            src.last_frame = now
            records += self._close(src, "offline", "frames again", wall=wall_time)
            if stats is not None:
                records += self._picture(src, time_s, wall_time, stats)
        self._emit(records)

    def tick(self, now: float | None = None) -> None:
        """Open ``offline`` for live sources without a frame for ``timeout_s``; close reconnect
        loops quiet for ``reconnect_period_s``."""
        now = time.monotonic() if now is None else now
        records = []
        s = self.settings
        with self._lock:
            for src in self._sources.values():
                if not src.live or src.ended:
                    continue
                silent = now - src.last_frame
                if silent >= s.timeout_s and "offline" not in src.open:
                    why = f"; last: {src.last_message}" if src.last_message else ""
                    if not why and not src.connected:
                        why = "; no connection yet"
                    message = f"no frame for {silent:.1f} s{why}"
                    records += self._open(src, "offline", time.time() - silent, message)
                loop = src.open.get("reconnect_loop")
                if loop is not None and src.drops and now - src.drops[-1] >= s.reconnect_period_s:
                    quiet = f"no dropped connection for {s.reconnect_period_s:g} s"
                    records += self._close(src, "reconnect_loop", quiet)
        self._emit(records)

    def close_all(self, reason: str = "stopped") -> None:
        """Close every open problem (the watch is ending), with ``reason``."""
        records = []
        with self._lock:
            for src in self._sources.values():
                for kind in list(src.open):
                    problem = src.open.pop(kind)
                    record = problem.record("close", f"{kind} until the watch {reason}")
                    record["reason"] = reason
                    records.append(record)
        self._emit(records)

    def counts(self, source: str) -> dict[str, int]:
        """How many problems of each kind ``source`` had (opened)."""
        with self._lock:
            return dict(self._sources[source].opened)

    def open_kinds(self, source: str) -> list[str]:
        with self._lock:
            return list(self._sources[source].open)

    # -- rules ---------------------------------------------------------------------------------

    def _picture(self, src: _SourceHealth, time_s: float, wall: float, stats: PictureStats):
        s = self.settings
        records = []
        fault = picture_fault(stats, s)
        if fault is None:
            src.good += 1
            src.fault, src.fault_since = None, None
            if src.good >= s.clear_samples:
                for kind in PICTURE_KINDS:
                    records += self._close(src, kind, "picture normal again", wall=wall)
            return records
        src.good = 0
        if fault != src.fault:
            src.fault, src.fault_since = fault, (time_s, wall)
            for kind in PICTURE_KINDS:  # one picture problem at a time
                if kind != fault:
                    records += self._close(src, kind, f"picture now {fault}", wall=wall)
        since_s, since_wall = src.fault_since
        if fault not in src.open and time_s - since_s >= s.picture_timeout_s - 1e-9:
            message = _MESSAGES[fault].format(
                mean=stats.mean, std=stats.std, change=stats.change or 0.0
            )
            message += f" for {time_s - since_s:.1f} s"
            records += self._open(src, fault, since_wall, message, since_s=round(since_s, 3))
        return records

    def _check_loop(self, src: _SourceHealth, now: float) -> list[dict]:
        s = self.settings
        while src.drops and now - src.drops[0] > s.reconnect_period_s:
            src.drops.popleft()
        if len(src.drops) < s.reconnects or "reconnect_loop" in src.open:
            return []
        first = src.drops[-s.reconnects]
        message = f"{len(src.drops)} dropped connections in {now - first:.1f} s" + (
            f"; last: {src.last_message}" if src.last_message else ""
        )
        return self._open(src, "reconnect_loop", time.time() - (now - first), message)

    def _open(self, src: _SourceHealth, kind: str, since: float, message: str, **extra):
        src.opened[kind] += 1
        problem = _Problem(src.name, kind, src.opened[kind], since, message, **extra)
        src.open[kind] = problem
        return [problem.record("open")]

    def _close(
        self, src: _SourceHealth, kind: str, message: str, wall: float | None = None
    ) -> list[dict]:
        problem = src.open.pop(kind, None)
        if problem is None:
            return []
        until = time.time() if wall is None else wall
        return [problem.record("close", f"{kind} over: {message}", until=until)]

    def _emit(self, records: list[dict]) -> None:
        for record in records:
            line = f"{record['source']}: {record['message']}"
            if record["state"] == "open":
                log.warning("health: %s", line)
            else:
                log.info("health: %s", line)
            self.emit(record)

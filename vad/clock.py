"""Wall-clock time: when a video's first frame was recorded, and the times results show.

A video's clock start comes from ``--start-time`` (ISO-8601; without a zone, this machine's
local zone), else from its container: the ``creation_time`` tag (MP4/MOV, MKV: a date, a time
and UTC), else a SMPTE ``timecode`` (a time of day only: no date and no zone). ``vad watch``
uses each sample's arrival time instead. Data carry ISO-8601 texts, timezone-aware where the
zone is known (``2026-12-02T10:00:05.500000+00:00``; a timecode gives ``10:00:05.500000``);
pictures show them readably (``2026-12-02 10:00:05 UTC``).

>>> clock = ClockStart.parse("2026-12-02T10:00:00+01:00")
>>> clock.iso(5.5)
'2026-12-02T10:00:05.500000+01:00'
>>> clock.readable(5.5)
'2026-12-02 10:00:05 +01:00'
>>> ClockStart.from_timecode("10:00:00:12", fps=25.0).iso(1.0)
'10:00:01.480000'
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

log = logging.getLogger(__name__)

SOURCES = ("start-time", "creation_time", "timecode", "arrival")
EARLIEST_YEAR = 1980  # creation times before this are unset fields (0 = 1904 or 1970)
_MEMO_SIZE = 256
_MEMO: dict[tuple, ClockStart | None] = {}  # file signature -> what its container says
_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})[:;.](\d{1,3})$")
_DAY = datetime(1900, 1, 1)  # the date a time of day is counted from (never shown)


@dataclass(frozen=True)
class ClockStart:
    """The wall-clock time of a video's time 0 and where it came from (``source``, one of
    :data:`SOURCES`). ``start`` is timezone-aware, except for a timecode (``date_known``
    False): a time of day, naive, on a date that is never shown."""

    start: datetime
    source: str
    date_known: bool = True

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"unknown clock source {self.source!r}; choose from {SOURCES}")
        if self.date_known and self.start.tzinfo is None:
            raise ValueError("a clock start with a date must carry a timezone")

    @classmethod
    def parse(cls, text: str, source: str = "start-time") -> ClockStart:
        """An ISO-8601 date and time (``2026-12-02T10:00:00+01:00``, ``...Z``); without a
        zone, this machine's local zone. :class:`ValueError` says what is expected."""
        text = str(text).strip()
        try:  # Python 3.10 reads no "Z"
            when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise ValueError(
                f"not an ISO-8601 date and time (e.g. 2026-12-02T10:00:00+01:00), got {text!r}"
            ) from None
        if when.tzinfo is None:
            when = when.astimezone()  # a naive time is this machine's local time
        return cls(when, source)

    @classmethod
    def from_timecode(cls, timecode: str, fps: float) -> ClockStart:
        """A SMPTE timecode ``HH:MM:SS:FF`` (``;`` for drop-frame): a time of day."""
        found = _TIMECODE.match(str(timecode).strip())
        if not found:
            raise ValueError(f"not a timecode (HH:MM:SS:FF), got {timecode!r}")
        h, m, s, f = (int(x) for x in found.groups())
        if h > 23 or m > 59 or s > 59:
            raise ValueError(f"not a time of day, got timecode {timecode!r}")
        frames = f / fps if fps > 0 else 0.0
        start = _DAY + timedelta(hours=h, minutes=m, seconds=s + frames)
        return cls(start, "timecode", date_known=False)

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=float(seconds))

    def iso(self, seconds: float) -> str:
        """ISO-8601 of the time ``seconds`` after the start (a time of day for a timecode)."""
        when = self.at(seconds)
        text = when.isoformat(timespec="microseconds")
        return text if self.date_known else when.time().isoformat(timespec="microseconds")

    def readable(self, seconds: float, with_date: bool = True) -> str:
        """For pictures: ``2026-12-02 10:00:05 UTC`` (``10:00:05`` without the date)."""
        when = self.at(seconds)
        clock = when.strftime("%H:%M:%S")
        if not (self.date_known and with_date):
            return clock
        offset = when.utcoffset()
        zone = "UTC" if offset == timedelta(0) else when.strftime("%z")
        zone = zone if zone == "UTC" else f"{zone[:3]}:{zone[3:]}"
        return f"{when:%Y-%m-%d} {clock} {zone}"

    def summary(self) -> dict:
        """What results record: ``start`` (ISO-8601) and ``source``."""
        return {"start": self.iso(0.0), "source": self.source}

    @classmethod
    def from_summary(cls, summary: dict | None) -> ClockStart | None:
        """The clock a result recorded (:meth:`summary`), or None."""
        if not summary or not summary.get("start"):
            return None
        text, source = str(summary["start"]), str(summary.get("source", "start-time"))
        if source == "timecode":
            when = datetime.combine(_DAY.date(), datetime.strptime(text, "%H:%M:%S.%f").time())
            return cls(when, source, date_known=False)
        return cls(datetime.fromisoformat(text), source)


def arrival_iso(unix_time: float) -> str:
    """A UNIX time (``vad watch``'s arrival time) as timezone-aware ISO-8601, in UTC.

    >>> arrival_iso(0.5)
    '1970-01-01T00:00:00.500000+00:00'
    """
    return datetime.fromtimestamp(unix_time, tz=timezone.utc).isoformat(timespec="microseconds")


def container_clock(path: str | Path) -> ClockStart | None:
    """The clock start a video file's container states (creation time, else timecode), or
    None. Only regular files are opened (never a stream or a device); read once per file
    version in a process."""
    from vad.cache import file_signature

    path = Path(path)
    try:
        if not path.is_file():
            return None
        key = file_signature(path)
    except OSError:
        return None
    if key not in _MEMO:
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = _read_container_clock(path)
    return _MEMO[key]


def _read_container_clock(path: Path) -> ClockStart | None:
    try:
        import av

        with av.open(str(path), metadata_errors="ignore") as container:
            video = container.streams.video[0] if container.streams.video else None
            tags = [dict(container.metadata)]
            tags += [dict(video.metadata)] if video is not None else []
            tags += [dict(s.metadata) for s in container.streams if s is not video]
            rate = (video.average_rate or video.guessed_rate) if video is not None else None
            fps = float(rate) if rate else 0.0
    except Exception as exc:  # noqa: BLE001 - no clock is not an error: scoring goes on
        log.debug("%s: no container clock (%s)", path, exc)
        return None
    for meta in tags:
        text = meta.get("creation_time")
        if text:
            try:
                clock = ClockStart.parse(text, "creation_time")
            except ValueError:
                continue
            if clock.start.year >= EARLIEST_YEAR:
                return clock
    for meta in tags:
        text = meta.get("timecode")
        if text:
            try:
                return ClockStart.from_timecode(text, fps)
            except ValueError:
                continue
    return None


def add_clock(result: dict, clock: ClockStart | None) -> dict:
    """Record ``clock`` in a ``vad score`` result: ``clock`` (start and source) and each
    event's ``start_clock``, ``end_clock`` and ``peak_clock``. Nothing without a clock."""
    if clock is None:
        return result
    result["clock"] = clock.summary()
    for event in result.get("events", []):
        for key in ("start", "end", "peak"):
            event[f"{key}_clock"] = clock.iso(event[f"{key}_s"])
    return result

"""``vad watch``: score live sources as frames arrive.

One process, one model, any number of sources. Each source is read by a
:class:`~vad.live.stream.StreamReader` thread that samples at ``sample_fps`` by timestamp and
resizes the kept frames to the model's input; the frames of all sources meet in one bounded
queue, and the scoring loop encodes them in shared batches.

Each source's samples are scored as they arrive by a :class:`~vad.live.livescore.IncrementalScorer`
with the recipe of ``vad score`` over the source's last ``context_window_s`` seconds: scene
context (and the ``mean`` anchor) from that window (or the fixed ``--context``), NOVA's anchor
from the stream's first 32 samples (kept by the scorer), context-mixed prompt scores,
refinement, motion gate and temporal smoothing, each sample from the past only (the
smoothing's edge repeats the newest score). The work per sample does not grow with the window
(:mod:`vad.live.livescore`).

An event opens when the score has stayed at or above the threshold for ``min_event_s`` and
closes once it has stayed below for ``cooldown_s`` (so a flickering score does not flap). Both
moments are written as ``event`` records and sent to the alert hooks (:mod:`vad.live.alerts`).

Camera health (:mod:`vad.live.health`): a live source without frames for ``health_timeout_s``, a
picture black, covered or frozen for ``picture_timeout_s``, or a connection that keeps
dropping becomes a ``health`` record, opened and closed, sent to the alert hooks like an event.

Memory is bounded: a fixed-size ring of the window per source, a bounded frame queue, bounded
latency history.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vad.clock import arrival_iso
from vad.live.alerts import AlertSink
from vad.live.health import HealthMonitor, HealthSettings, PictureStats
from vad.live.livescore import SCORERS, IncrementalScorer, WindowScorer
from vad.live.stream import FrameQueue, SampledFrame, StreamReader, StreamStatus, parse_source
from vad.model.runtime import encoder_facts

log = logging.getLogger(__name__)

LATENCY_HISTORY = 10_000  # latencies kept for the p50/p95 (a ring buffer)


@dataclass
class WatchOptions:
    """Settings of a watch run (the CLI flags of ``vad watch``)."""

    sample_fps: float = 2.0
    context_window_s: float = 60.0
    min_event_s: float = 1.0
    cooldown_s: float = 5.0
    duration_s: float | None = None
    realtime: bool = False
    loop: bool = False
    queue_size: int = 256
    backoff_s: tuple[float, float] = (0.5, 30.0)
    timeout_s: float = 10.0
    health_timeout_s: float = 10.0
    picture_timeout_s: float = 30.0
    scorer: Literal["incremental", "window"] = "incremental"

    def check(self) -> None:
        if self.scorer not in SCORERS:
            raise ValueError(f"unknown scorer {self.scorer!r}; choose from {', '.join(SCORERS)}")
        for name, value, ok, what in (
            ("--sample-fps", self.sample_fps, self.sample_fps > 0, "> 0"),
            ("--context-window", self.context_window_s, self.context_window_s > 0, "> 0"),
            ("--min-event-s", self.min_event_s, self.min_event_s >= 0, ">= 0"),
            ("--cooldown-s", self.cooldown_s, self.cooldown_s >= 0, ">= 0"),
            ("--duration", self.duration_s, self.duration_s is None or self.duration_s > 0, "> 0"),
            ("--health-timeout", self.health_timeout_s, self.health_timeout_s > 0, "> 0"),
            ("--picture-timeout", self.picture_timeout_s, self.picture_timeout_s > 0, "> 0"),
        ):
            if not (isinstance(value, int | float | None) and ok and _finite(value)):
                raise ValueError(f"{name} must be a number {what}, got {value}")


def _finite(value) -> bool:
    return value is None or math.isfinite(value)


class EventTracker:
    """Open/close events from one source's stream of (time, score) samples."""

    def __init__(self, source: str, threshold: float, min_event_s: float, cooldown_s: float):
        self.source = source
        self.threshold = threshold
        self.min_event_s = min_event_s
        self.cooldown_s = cooldown_s
        self.count = 0
        self._pending: float | None = None  # time the score went above, not yet an event
        self._open: dict | None = None
        self._descriptions: Counter = Counter()
        self._last_above = 0.0
        # arrival (wall-clock) times of the same moments, when the caller gives them
        self._pending_clock: str | None = None
        self._last_above_clock: str | None = None

    @property
    def is_open(self) -> bool:
        return self._open is not None

    def update(
        self,
        time_s: float,
        score: float,
        descriptions: list[dict],
        wall_time: float | None = None,
        explained: dict | None = None,
    ) -> list[dict]:
        """Feed one sample; returns the event records it opens or closes. ``wall_time``: the
        sample's arrival (UNIX time), which records then carry as ISO-8601 clock times.
        ``explained``: what drove the score at this sample (``label``, ``explanation``,
        ``nearest_descriptions``, :func:`vad.scoring.explain.describe_event`), kept with the
        peak."""
        out = []
        clock = None if wall_time is None else arrival_iso(wall_time)
        if score >= self.threshold:
            self._last_above = time_s
            self._last_above_clock = clock
            if self._open is None:
                if self._pending is None:
                    self._pending = time_s
                    self._pending_clock = clock
                if time_s - self._pending >= self.min_event_s - 1e-9:
                    self.count += 1
                    self._open = {
                        "event_id": f"{self.source}#{self.count}",
                        "start_s": round(self._pending, 3),
                        "peak_s": round(time_s, 3),
                        "peak_score": round(float(score), 6),
                        "descriptions": descriptions,
                        "start_clock": self._pending_clock,
                        "peak_clock": clock,
                        **(explained or {}),
                    }
                    self._pending = None
                    out.append(self._record("open", None))
            elif score > self._open["peak_score"]:
                self._open.update(peak_s=round(time_s, 3), peak_score=round(float(score), 6))
                self._open["peak_clock"] = clock
                if explained:  # the peak's explanation (its descriptions may be none)
                    for key in ("label", "explanation", "nearest_descriptions"):
                        self._open.pop(key, None)
                    self._open.update(explained, descriptions=descriptions)
                elif descriptions:
                    self._open["descriptions"] = descriptions
        else:
            self._pending = None
            if self._open is not None and time_s - self._last_above >= self.cooldown_s - 1e-9:
                out.append(self.close())
        return out

    def close(self, reason: str | None = None) -> dict:
        record = self._record("close", round(self._last_above, 3), self._last_above_clock)
        if reason:
            record["reason"] = reason
        self._open = None
        return record

    def _record(self, state: str, end_s, end_clock: str | None = None) -> dict:
        ev = self._open or {}
        clocks = {"start_clock": ev.get("start_clock"), "peak_clock": ev.get("peak_clock")}
        if state == "close":
            clocks["end_clock"] = end_clock
        return {
            "type": "event",
            "state": state,
            "source": self.source,
            "event_id": ev.get("event_id"),
            "start_s": ev.get("start_s"),
            "end_s": end_s,
            "peak_s": ev.get("peak_s"),
            "peak_score": ev.get("peak_score"),
            "threshold": self.threshold,
            "descriptions": ev.get("descriptions", []),
            **{k: ev[k] for k in ("nearest_descriptions", "label", "explanation") if k in ev},
            **{k: v for k, v in clocks.items() if v is not None},
            "wall_time": round(time.time(), 6),
        }


class _Source:
    def __init__(self, name: str, tracker: EventTracker):
        self.name = name
        self.tracker = tracker
        self.scorer: IncrementalScorer | WindowScorer | None = None  # made once the model is
        self.samples = 0


class Watcher:
    """Score ``sources`` with ``detector`` until stopped; every record goes to ``sink``.

    ``run(stop)`` returns the summary (also written as the last ``summary`` record)."""

    def __init__(self, detector, sources: list[str], sink: AlertSink, options: WatchOptions):
        options.check()
        if not sources:
            raise ValueError("no sources to watch")
        self.detector = detector
        self.specs = [parse_source(s) for s in sources]
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise ValueError("a source is given twice")
        self.sink = sink
        self.options = options
        self.queue = FrameQueue(options.queue_size)
        self.latencies: deque[float] = deque(maxlen=LATENCY_HISTORY)
        self.lags: deque[float] = deque(maxlen=LATENCY_HISTORY)
        threshold = float(detector.event_threshold)
        self.sources = {
            n: _Source(n, EventTracker(n, threshold, options.min_event_s, options.cooldown_s))
            for n in names
        }
        self.busy_s = 0.0
        self.health: HealthMonitor | None = None
        self.readers: list[StreamReader] = []
        self.info: dict = {}  # extra fields of the first ("start") record, e.g. calibration

    # -- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> dict:
        stop = stop or threading.Event()
        encoder = self.detector.encoder  # load the model before the first frame arrives
        self.detector.text_embeddings()
        for src in self.sources.values():
            src.scorer = self._scorer(src.name)
        transform = encoder.preprocess.resize_crop
        self.sink.emit(
            {
                "type": "start",
                "sources": [s.name for s in self.specs],
                "sample_fps": self.options.sample_fps,
                "context_window_s": self.options.context_window_s,
                "threshold": float(self.detector.event_threshold),
                "min_event_s": self.options.min_event_s,
                "cooldown_s": self.options.cooldown_s,
                "model": self.detector.model,
                **encoder_facts(encoder),
                "prompts": self.detector.bank.name,
                "context": self.detector.context,
                **self.info,
                "wall_time": round(time.time(), 6),
            }
        )
        started = time.monotonic()
        settings = HealthSettings(
            timeout_s=self.options.health_timeout_s,
            picture_timeout_s=self.options.picture_timeout_s,
        )
        live = {spec.name: spec.live for spec in self.specs}
        self.health = HealthMonitor(live, self.sink.emit, settings, now=started)
        for spec in self.specs:
            reader = StreamReader(
                spec,
                self.options.sample_fps,
                self.queue,
                stop,
                on_status=self._on_status,
                transform=transform,
                realtime=self.options.realtime,
                loop=self.options.loop,
                backoff_s=self.options.backoff_s,
                timeout_s=self.options.timeout_s,
                on_frame=self._on_frame,
                picture_step=settings.grid_step,
            )
            self.readers.append(reader)
            reader.start()
        deadline = None if self.options.duration_s is None else started + self.options.duration_s
        batch_size = max(1, int(self.detector.batch_size))
        try:
            while not stop.is_set():
                wait = 0.2
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        break
                batch = self.queue.get_batch(batch_size, wait)
                self.health.tick()
                if batch:
                    t0 = time.monotonic()
                    self._score_batch(batch, encoder)
                    self.busy_s += time.monotonic() - t0
                elif not any(r.is_alive() for r in self.readers) and not len(self.queue):
                    break  # every source ended (files)
        finally:
            elapsed = time.monotonic() - started
            stop.set()
            for reader in self.readers:
                reader.join(self.options.timeout_s + 5)
            for src in self.sources.values():
                if src.tracker.is_open:
                    self.sink.emit(src.tracker.close("stopped"))
            self.health.close_all("stopped")
            summary = self.summary(elapsed)
            self.sink.emit(summary)
        return summary

    def _on_status(self, status: StreamStatus) -> None:
        record = status.record()
        if status.state == "disconnected":
            log.warning(
                "%s: disconnected (%s); reconnecting in %.1f s",
                status.source,
                status.message,
                status.retry_in_s or 0,
            )
        elif status.state == "ended":
            log.info("%s: ended (%s)", status.source, status.message)
        else:
            log.info("%s: %s", status.source, status.state)
        self.sink.emit(record)
        if self.health is not None:
            self.health.status(status.source, status.state, status.message)

    def _on_frame(self, frame: SampledFrame, stats: PictureStats) -> None:
        if self.health is not None:
            self.health.frame(frame.source, frame.time_s, frame.wall_time, stats)

    # -- scoring -----------------------------------------------------------------------------

    def _score_batch(self, batch: list[SampledFrame], encoder) -> None:
        pixels = np.concatenate([np.asarray(f.pixels) for f in batch])
        submit = getattr(encoder, "submit_pixels", None)
        if submit is None:  # an encoder without the uint8 entry point (test stand-ins)
            embeddings = np.asarray(encoder.encode_images(encoder.preprocess.normalize(pixels)))
        else:
            embeddings = getattr(encoder, "collect", np.asarray)(submit(pixels))
        by_source: dict[str, list[int]] = {}
        for i, frame in enumerate(batch):
            by_source.setdefault(frame.source, []).append(i)
        for name, rows in by_source.items():
            src = self.sources[name]
            scored = src.scorer.add(np.asarray(embeddings, np.float32)[rows])
            self._emit_scores(src, [batch[i] for i in rows], scored)

    def _scorer(self, name: str) -> IncrementalScorer | WindowScorer:
        o = self.options
        if o.scorer == "window":
            return WindowScorer(self.detector, o.sample_fps, o.context_window_s, name)
        batch = max(1, int(self.detector.batch_size))
        return IncrementalScorer(self.detector, o.sample_fps, o.context_window_s, batch)

    def _emit_scores(self, src: _Source, new: list[SampledFrame], scored: list) -> None:
        scored_at = time.time()
        for frame, result in zip(new, scored, strict=True):
            if result is None:  # the window scorer: more new samples than the window holds
                continue
            latency = scored_at - frame.wall_time
            self.latencies.append(latency)
            self.lags.append(frame.lag_s)
            src.samples += 1
            self.sink.emit(
                {
                    "type": "sample",
                    "source": src.name,
                    "time_s": round(frame.time_s, 3),
                    "wall_time": round(frame.wall_time, 6),
                    "clock": arrival_iso(frame.wall_time),
                    "score": result.score,
                    "latency_s": round(latency, 4),
                }
            )
            updates = src.tracker.update(
                frame.time_s, result.score, result.descriptions, frame.wall_time, result.explained
            )
            for record in updates:
                record["context"] = result.scene
                self.sink.emit(record)

    # -- reporting ---------------------------------------------------------------------------

    def summary(self, elapsed_s: float) -> dict:
        lat = np.asarray(self.latencies, dtype=np.float64)
        lag_p95 = float(np.percentile(self.lags, 95)) if len(self.lags) else 0.0
        dropped = dict(self.queue.dropped)
        busy = self.busy_s / elapsed_s if elapsed_s > 0 else 0.0
        max_lag = max(1.0, 2.0 / self.options.sample_fps)
        received = sum(self.queue.received.values())
        scored = sum(s.samples for s in self.sources.values())
        backlog = received - scored - sum(dropped.values())  # arrived, never scored
        sources = {}
        for reader in self.readers:
            name = reader.spec.name
            sources[name] = {
                "samples": self.sources[name].samples,
                "connections": reader.connections,
                "reconnects": reader.reconnects,
                "dropped": dropped.get(name, 0),
                "health": self.health.counts(name) if self.health is not None else {},
            }
        return {
            "type": "summary",
            "elapsed_s": round(elapsed_s, 3),
            "samples": scored,
            "received": received,
            "latency_s": {
                "p50": round(float(np.percentile(lat, 50)), 4) if len(lat) else None,
                "p95": round(float(np.percentile(lat, 95)), 4) if len(lat) else None,
            },
            "busy_fraction": round(busy, 4),
            "reader_lag_p95_s": round(lag_p95, 4),
            "backlog": backlog,
            # keeping up: something was scored, no frame dropped, nearly every frame that
            # arrived was scored (at most a batch in flight at the end), scoring not saturated
            # (busy < 95 %: a saturated scorer's latency only grows), and the readers stayed
            # with their streams (lag p95 within max(1 s, 2 samples))
            "keeping_up": scored > 0
            and not sum(dropped.values())
            and backlog <= max(2 * len(self.sources), 0.05 * received)
            and busy < 0.95
            and lag_p95 <= max_lag,
            "sources": sources,
            "alerts": self.sink.stats(),
            "wall_time": round(time.time(), 6),
        }


def format_summary(summary: dict) -> str:
    lat = summary["latency_s"]
    fmt = "n/a" if lat["p50"] is None else f"p50 {lat['p50']:.3f} s, p95 {lat['p95']:.3f} s"
    parts = [
        f"{summary['samples']} samples in {summary['elapsed_s']:.1f} s",
        f"latency {fmt}",
        f"scoring busy {100 * summary['busy_fraction']:.0f}% of the time",
        "keeping up" if summary["keeping_up"] else "NOT keeping up",
    ]
    for name, s in summary["sources"].items():
        extra = f", {s['reconnects']} reconnects" if s["reconnects"] else ""
        extra += f", {s['dropped']} dropped" if s["dropped"] else ""
        for kind, count in s.get("health", {}).items():
            extra += f", {kind}" + (f" x{count}" if count > 1 else "")
        parts.append(f"{name}: {s['samples']} samples{extra}")
    return "watch: " + "; ".join(parts)

"""The texts every view of a result shows the same way: an event's label (what drove it,
else its top description), times as text, the scene context, the event threshold, whether the
weights were random, and the result's wall-clock start."""

from __future__ import annotations

from collections.abc import Sequence


def _top_label(event: dict) -> str:
    """What an event is labelled with: what drove it (:mod:`vad.scoring.explain`), else its top
    description (results written before events were explained)."""
    if event.get("label"):
        return event["label"]
    desc = event.get("descriptions") or []
    return desc[0]["text"] if desc else "event"


def shorten(label: str, most: int) -> str:
    """``label`` cut to ``most`` characters, keeping a closing ``(number)`` it ends with.

    >>> shorten("unlike this camera's normal footage (novelty 0.93)", 32)
    'unlike this came… (novelty 0.93)'
    """
    if len(label) <= most:
        return label
    head, sep, tail = label.rpartition(" (")
    if sep and tail.endswith(")") and len(tail) + 4 < most:
        return head[: most - len(tail) - 3] + "… (" + tail
    return label[: most - 1] + "…"


def _clock(result: dict):
    from vad.clock import ClockStart

    return ClockStart.from_summary(result.get("clock"))


def _random_weights(result: dict) -> bool:
    return any(str(w).startswith("random model weights") for w in result.get("warnings", []))


def seconds_text(t: float) -> str:
    """Seconds into a video as people read them: ``12.5 s``, ``1:05``, ``1:02:03``.

    >>> seconds_text(12.5), seconds_text(65), seconds_text(3723)
    ('12.5 s', '1:05', '1:02:03')
    """
    if t < 60:
        return f"{t:.1f} s" if t % 1 else f"{t:.0f} s"
    m, sec = divmod(int(round(t)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _context_text(result: dict) -> str:
    ctx = result.get("context") or {}
    if not ctx.get("scene"):
        return "context: none"
    prob = ctx.get("probability")
    return f"context: {ctx['scene']}" + (f" ({prob:.2f})" if prob is not None else "")


def _threshold(result: dict, default: float = 0.5) -> float:
    cal = result.get("calibration") or {}
    return float(cal.get("threshold", result.get("event_threshold", default)))


def _event_at(events: Sequence[dict], frame: int) -> dict | None:
    for ev in events:
        if ev["start_frame"] <= frame <= ev["end_frame"]:
            return ev
    return None

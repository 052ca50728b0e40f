"""Results to look at, from the JSON ``vad score`` writes.

- :func:`plot_result` (``--plot``): ``<stem>.png``, the score over time with the events shaded and
  labelled with what drove them, the scene context in the title, the wall-clock time along the top
  when it is known.
- :func:`write_overlay` (``--overlay``): ``<stem>.overlay.mp4``, the video with a score bar and
  the current event's label drawn on every frame (and the wall-clock time, when known), at the
  input's frame count and rate.
- :func:`write_index` (``--html``): ``index.html``, one self-contained page for the run (images
  inlined as data URIs, no scripts, no network): what the run used (threshold, calibration, model,
  recipe; a banner when the weights are random), then a row per video sorted by peak score with
  its timeline on a time axis; opening a row shows its events' thumbnails captioned with their
  time, and the events: what drove each, the descriptions with their similarities, and links to
  the overlay and the source at that moment.

Every piece of text that comes from data (names, descriptions) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from urllib.parse import quote

import numpy as np

from vad.files import atomic_write_text

log = logging.getLogger(__name__)

THUMB_WIDTH = 192
MAX_THUMBS = 6
TIMELINE_POINTS = 600


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


# -- the plot --------------------------------------------------------------------------------


def plot_result(result: dict, path: str | Path, dpi: int = 100) -> Path:
    """``<stem>.png``: score over time, events shaded and labelled, context in the title."""
    from matplotlib.figure import Figure

    path = Path(path)
    scores = np.asarray(result["scores"], dtype=np.float64)
    fps = float(result["fps"])
    t = np.arange(len(scores)) / fps
    fig = Figure(figsize=(10, 3.2))
    ax = fig.add_subplot()
    for i, ev in enumerate(result.get("events", [])):
        ax.axvspan(ev["start_s"], ev["end_s"], color="tab:red", alpha=0.18, lw=0)
        y = (1.03, 0.96, 0.89)[i % 3]  # neighbouring labels at different heights
        label = shorten(_top_label(ev), 40)
        ax.text(ev["start_s"], y, label, fontsize=8, color="darkred", va="bottom")
    ax.plot(t, scores, color="tab:blue", lw=1.2, label="anomaly score")
    ax.axhline(_threshold(result), color="grey", ls="--", lw=0.8, label="event threshold")
    ax.set_xlim(0, max(t[-1] if len(t) else 1.0, 1e-3))
    ax.set_ylim(0, 1.12)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("score")
    title = f"{Path(result['video']).name} - {_context_text(result)}"
    clock = _clock(result)
    if clock is not None:  # wall-clock time along the top, the seconds below
        from matplotlib.ticker import FuncFormatter

        top = ax.secondary_xaxis("top")
        top.xaxis.set_major_formatter(FuncFormatter(lambda x, _: clock.readable(x, False)))
        top.tick_params(labelsize=7)
        title += f" - started {clock.readable(0.0)}"
    if _random_weights(result):
        title += " - RANDOM WEIGHTS: meaningless scores"
    ax.set_title(title, fontsize=10, pad=16 if clock is not None else 6)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


# -- the overlay video -------------------------------------------------------------------------


def _event_at(events: Sequence[dict], frame: int) -> dict | None:
    for ev in events:
        if ev["start_frame"] <= frame <= ev["end_frame"]:
            return ev
    return None


def _draw(
    img: np.ndarray, score: float, label: str | None, threshold: float, clock: str | None = None
) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    bar_h = max(8, h // 24)
    img[h - bar_h :, :] = (img[h - bar_h :, :] * 0.35).astype(np.uint8)
    filled = int(round(np.clip(score, 0, 1) * w))
    color = (220, 40, 40) if score >= threshold else (40, 160, 230)  # RGB
    img[h - bar_h :, :filled] = color
    x = int(round(threshold * (w - 1)))
    img[h - bar_h :, x : x + 1] = (255, 255, 255)
    scale = max(0.4, h / 720)
    thick = max(1, int(round(scale * 2)))
    text = f"score {score:.2f}" + (f"  {label}" if label else "")
    org = (8, h - bar_h - 8)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(
        img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA
    )
    if clock:  # the wall-clock time, top left, as a camera's own overlay shows it
        top = (8, 8 + int(round(22 * scale)))
        for color, t in (((0, 0, 0), thick + 2), ((255, 255, 255), thick)):
            cv2.putText(img, clock, top, cv2.FONT_HERSHEY_SIMPLEX, scale, color, t, cv2.LINE_AA)
    return img


def _encoder_name() -> str:
    import av

    for name in ("libx264", "mpeg4"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # noqa: BLE001 - not built into this FFmpeg
            continue
    raise RuntimeError("no MP4 video encoder (libx264 or mpeg4) in this FFmpeg build")


def write_overlay(video: str | Path, result: dict, path: str | Path) -> Path:
    """``<stem>.overlay.mp4``: every decoded frame of ``video`` with the score bar and the event
    label; one output frame per input frame, at the input's rate."""
    import av

    path = Path(path)
    scores = np.asarray(result["scores"], dtype=np.float64)
    events = result.get("events", [])
    threshold = _threshold(result)
    clock = _clock(result)
    times = result.get("frame_times")  # a variable frame rate's timestamps
    fps = Fraction(float(result["fps"])).limit_denominator(1001)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    try:
        with av.open(str(video)) as src, av.open(str(tmp), "w") as out:
            vin = src.streams.video[0]
            rate = vin.average_rate or vin.guessed_rate or fps
            vout = None
            for i, frame in enumerate(src.decode(vin)):
                img = frame.to_ndarray(format="rgb24")
                if vout is None:
                    vout = out.add_stream(_encoder_name(), rate=rate)
                    vout.width = img.shape[1] // 2 * 2
                    vout.height = img.shape[0] // 2 * 2
                    vout.pix_fmt = "yuv420p"
                    vout.codec_context.time_base = 1 / Fraction(rate)
                    if vout.name == "libx264":
                        vout.options = {"crf": "23", "preset": "veryfast"}
                score = scores[min(i, len(scores) - 1)] if len(scores) else 0.0
                ev = _event_at(events, i)
                t = times[i] if times is not None and i < len(times) else i / float(fps)
                img = _draw(
                    np.ascontiguousarray(img[: vout.height, : vout.width]),
                    score,
                    _top_label(ev) if ev else None,
                    threshold,
                    None if clock is None else f"{clock.readable(t)}  ({seconds_text(t)})",
                )
                new = av.VideoFrame.from_ndarray(img, format="rgb24")
                new.pts = i
                new.time_base = vout.codec_context.time_base
                for packet in vout.encode(new):
                    out.mux(packet)
            if vout is not None:
                for packet in vout.encode():
                    out.mux(packet)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# -- the review page ---------------------------------------------------------------------------


def keyframes(video: str | Path, times: Sequence[float], width: int = THUMB_WIDTH) -> list:
    """JPEG bytes of the frames at ``times`` (seconds) of ``video``; None where not found."""
    import av

    out: list[bytes | None] = []
    try:
        with av.open(str(video)) as src:
            stream = src.streams.video[0]
            for t in times:
                out.append(_frame_at(src, stream, t, width))
    except (OSError, av.error.FFmpegError, IndexError) as exc:
        log.warning("%s: no thumbnails (%s)", video, exc)
        out += [None] * (len(times) - len(out))
    return out


def _frame_at(src, stream, t: float, width: int) -> bytes | None:
    import av

    try:
        if stream.time_base:
            src.seek(int(max(0.0, t - 0.5) / stream.time_base), stream=stream, backward=True)
    except av.error.FFmpegError:
        src.seek(0)
    best = None
    for frame in src.decode(stream):
        best = frame
        if frame.time is None or frame.time >= t - 1e-3:
            break
    if best is None:
        return None
    height = max(2, round(best.height * width / best.width))
    img = best.to_image(width=width, height=height)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


TICK_STEPS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)


def tick_step(duration_s: float, most: int = 8) -> float:
    """The smallest step of :data:`TICK_STEPS` giving at most ``most`` ticks over a span.

    >>> tick_step(11.2), tick_step(600)
    (2, 120)
    """
    for step in TICK_STEPS:
        if duration_s / step <= most:
            return step
    return TICK_STEPS[-1] * math.ceil(duration_s / (most * TICK_STEPS[-1]))


def timeline_svg(result: dict, width: int = 600, height: int = 60) -> str:
    """The score over time as an inline SVG, events shaded, the threshold dashed, with a time
    axis below (seconds into the video, and the wall-clock time when it is known)."""
    scores = np.asarray(result["scores"], dtype=np.float64)
    n = len(scores)
    if n == 0:
        return ""
    fps = float(result["fps"])
    duration = n / fps
    idx = np.unique(np.linspace(0, n - 1, min(n, TIMELINE_POINTS)).round().astype(int))
    xs = idx / fps / duration * width
    ys = (1 - np.clip(scores[idx], 0, 1)) * (height - 2) + 1
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    spans = "".join(
        f'<rect x="{ev["start_s"] / duration * width:.1f}" y="0" '
        f'width="{max(1.0, (ev["end_s"] - ev["start_s"]) / duration * width):.1f}" '
        f'height="{height}" fill="#e33" fill-opacity="0.25"><title>'
        f"{html.escape(_top_label(ev))}</title></rect>"
        for ev in result.get("events", [])
    )
    thr_y = (1 - _threshold(result)) * (height - 2) + 1
    clock = _clock(result)
    axis_h = 14 + (12 if clock is not None else 0)
    step = tick_step(duration)
    ticks = []
    for t in np.arange(0.0, duration + 1e-9, step):
        x = t / duration * width
        anchor = "start" if t == 0 else "end" if x > width - 20 else "middle"
        ticks.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{height}" y2="{height + 3}" stroke="#888"/>'
            f'<text x="{x:.1f}" y="{height + 12}" text-anchor="{anchor}">'
            f"{html.escape(seconds_text(float(t)))}</text>"
        )
        if clock is not None:
            ticks.append(
                f'<text x="{x:.1f}" y="{height + 24}" text-anchor="{anchor}" fill="#555">'
                f"{html.escape(clock.readable(float(t), with_date=False))}</text>"
            )
    total = height + axis_h
    return (
        f'<svg class="timeline" viewBox="0 0 {width} {total}" width="{width}" '
        f'height="{total}" role="img" aria-label="score timeline" font-size="9" '
        f'font-family="system-ui,sans-serif" fill="#333">'
        f'<rect width="{width}" height="{height}" fill="#f6f7f9"/>{spans}'
        f'<line x1="0" x2="{width}" y1="{thr_y:.1f}" y2="{thr_y:.1f}" stroke="#999" '
        f'stroke-dasharray="4 3"/><polyline points="{points}" fill="none" stroke="#1f77b4" '
        f'stroke-width="1.5"/>{"".join(ticks)}</svg>'
    )


PAGE_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px} .meta{color:#666}
.banner{background:#fde8e8;border:1px solid #e0a0a0;color:#8a1010;padding:8px 12px;
border-radius:6px;font-weight:600}
.used th{font-weight:600;color:#444;padding-right:16px} .used td,.used th{border:0;padding:1px 8px}
details{border:1px solid #ddd;border-radius:6px;margin:10px 0;padding:8px 12px;background:#fff}
summary{cursor:pointer;display:flex;flex-wrap:wrap;gap:12px;align-items:center}
summary .name{font-weight:600;min-width:220px} .peak{font-variant-numeric:tabular-nums}
.hot{color:#c00} .thumbs{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}
.thumbs figure{margin:0} .thumbs img{height:72px;border-radius:3px;display:block}
.thumbs figcaption{font-size:11px;color:#555;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;margin-top:8px} td,th{padding:3px 10px;border-bottom:1px solid #eee}
td{vertical-align:top} td:nth-child(-n+3){white-space:nowrap}
th{text-align:left} .driver{font-size:11px;color:#666}
"""


def _plural(n: int, word: str) -> str:
    from vad.console import plural

    return plural(n, word)


def _varies(values: Sequence[str]) -> str:
    distinct = list(dict.fromkeys(values))
    return distinct[0] if len(distinct) == 1 else "varies: " + "; ".join(distinct)


def run_settings(results: Sequence[dict]) -> list[tuple[str, str]]:
    """What a run used, from its results: threshold, calibration, model, recipe (a value that
    differs between videos reads "varies: ...")."""

    def each(fn) -> str:
        return _varies([fn(r) for r in results])

    def threshold(r: dict) -> str:
        cal = r.get("calibration")
        how = " (calibrated)" if cal else ""
        return f"{_threshold(r):g}{how}"

    def calibration(r: dict) -> str:
        cal = r.get("calibration")
        if not cal:
            return "none"
        rate = float(cal.get("false_alarms_per_hour", 1.0))
        alarms = f"{rate:g} false alarm{'' if rate == 1 else 's'}"
        return (
            f"{cal.get('file')}: at most {alarms} per hour of normal footage, learnt from "
            f"{60 * cal.get('calibration_hours', 0):.1f} min of it; novelty term on"
        )

    def recipe(r: dict) -> str:
        sc = r.get("scoring") or {}
        anchor = "anchor" if sc.get("anchor") else "no anchor"
        sm = r.get("smoothing") or {}
        parts = [
            f"head {sc.get('head', '?')}, {anchor}, refine {sc.get('refine', '?')}",
            f"prompts {r.get('prompts', '?')}",
            f"context {(r.get('context') or {}).get('mode', '?')}",
            f"smoothing {sm.get('method', '?')} {sm.get('window_s', '?')} s",
            f"{r.get('sample_fps', '?')} samples/s",
        ]
        return "; ".join(parts)

    return [
        ("threshold", each(threshold)),
        ("calibration", each(calibration)),
        ("model", each(lambda r: f"{r.get('model', '?')} ({r.get('pretrained', '?')})")),
        ("recipe", each(recipe)),
    ]


def _descriptions_html(event: dict) -> str:
    def listed(ds) -> str:
        return "; ".join(
            f"{html.escape(d['text'])} ({float(d.get('similarity', 0.0)):.2f})" for d in ds
        )

    if event.get("descriptions"):
        return listed(event["descriptions"])
    nearest = event.get("nearest_descriptions") or []
    if nearest:
        return f'<span class="meta">none fired; nearest:</span> {listed(nearest)}'
    return '<span class="meta">none</span>'


def _links(entry: dict, event: dict, out_dir: Path | None) -> str:
    t = max(0.0, float(event["start_s"]))
    links = []
    stem = entry.get("stem")
    if out_dir is not None and stem and (out_dir / f"{stem}.overlay.mp4").is_file():
        links.append(f'<a href="{quote(stem)}.overlay.mp4#t={t:.1f}">overlay</a>')
    video = Path(entry["video"])
    try:
        target = os.path.relpath(video.resolve(), out_dir.resolve()) if out_dir else str(video)
    except ValueError:  # another drive (Windows)
        target = str(video.resolve())
    links.append(f'<a href="{quote(Path(target).as_posix())}#t={t:.1f}">source</a>')
    return " ".join(links)


def _row(entry: dict, is_open: bool = False, out_dir: Path | None = None) -> str:
    result = entry["result"]
    events = result.get("events", [])
    scores = result.get("scores") or [0.0]
    peak = max(scores)
    hot = " hot" if events else ""
    clock = _clock(result)

    def when(t: float) -> str:
        return seconds_text(t) + ("" if clock is None else f" · {clock.readable(t, False)}")

    thumbs = "".join(
        f'<figure><img src="{_data_uri(jpg, "image/jpeg")}" alt="event {i + 1} at '
        f'{ev["peak_s"]:.1f} s" title="{html.escape(_top_label(ev))}">'
        f"<figcaption>#{i + 1} · {html.escape(when(ev['peak_s']))}</figcaption></figure>"
        for i, (ev, jpg) in enumerate(zip(events, entry.get("thumbs", []), strict=False))
        if jpg
    )
    rows = []
    for i, ev in enumerate(events):
        span = f"{ev['start_s']:.1f}-{ev['end_s']:.1f} s"
        if clock is not None:
            span += (
                f'<br><span class="meta">{html.escape(clock.readable(ev["start_s"], False))}'
                f"-{html.escape(clock.readable(ev['end_s'], False))}</span>"
            )
        driver = (ev.get("explanation") or {}).get("driver")
        tag = f' <span class="driver">({html.escape(driver)})</span>' if driver else ""
        rows.append(
            f"<tr><td>{i + 1}</td><td>{span}</td>"
            f"<td>{ev['peak_score']:.3f} at {ev['peak_s']:.1f} s</td>"
            f"<td>{html.escape(_top_label(ev))}{tag}</td><td>{_descriptions_html(ev)}</td>"
            f"<td>{_links(entry, ev, out_dir)}</td></tr>"
        )
    table = (
        "<table><tr><th>#</th><th>time</th><th>peak</th><th>what drove it</th>"
        f"<th>descriptions (similarity)</th><th>open</th></tr>{''.join(rows)}</table>"
        if events
        else "<p>No events.</p>"
    )
    started = "" if clock is None else f" · started {clock.readable(0.0)}"
    return (
        f'<details class="video"{" open" if is_open else ""}><summary><span class="name">'
        f"{html.escape(Path(result['video']).name)}</span>"
        f'<span class="peak{hot}">peak {peak:.3f}</span>'
        f"<span>{_plural(len(events), 'event')}</span>"
        f'<span class="meta">{html.escape(_context_text(result) + started)}</span>'
        f"{timeline_svg(result)}</summary>"
        f'<div class="thumbs">{thumbs}</div>{table}</details>'
    )


def write_index(out_dir: str | Path, entries: Sequence[dict], title: str = "vad score") -> Path:
    """``index.html`` for ``entries`` (dicts with ``result``, ``video`` the input path and
    ``stem`` its output name): what the run used, then one row per video sorted by peak score
    (highest first), each with its timeline, event thumbnails and events."""
    out_dir = Path(out_dir)
    full = []
    for entry in entries:
        result = entry["result"]
        events = result.get("events", [])[:MAX_THUMBS]
        thumbs = keyframes(entry["video"], [ev["peak_s"] for ev in events]) if events else []
        full.append({**entry, "thumbs": thumbs})
    full.sort(key=lambda e: -max(e["result"].get("scores") or [0.0]))
    results = [e["result"] for e in full]
    n_events = sum(len(r.get("events", [])) for r in results)
    body = "".join(_row(e, i == 0, out_dir) for i, e in enumerate(full))  # the top one open
    banner = ""
    if any(_random_weights(r) for r in results):
        banner = (
            '<p class="banner">This model\'s weights are random: the scores below are '
            "meaningless (the pipeline around them is real).</p>"
        )
    used = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in run_settings(results)
    )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{PAGE_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{banner}"
        f'<table class="used">{used}</table>'
        f'<p class="meta">{_plural(len(full), "video")}, {_plural(n_events, "event")}; '
        "sorted by peak score. Open a row for its events.</p>"
        f"{body}</body></html>\n"
    )
    path = out_dir / "index.html"
    atomic_write_text(path, page)
    return path


# -- ``vad search --html`` ----------------------------------------------------------------------


def write_search_page(path: str | Path, result: dict, title: str | None = None) -> Path:
    """A self-contained page for a search (:meth:`SearchResult.to_dict
    <vad.scoring.search.SearchResult.to_dict>`): one row per moment, best first, with the thumbnail
    of its best frame captioned with its time, the video, the similarity and a link to the source
    at that moment."""
    path = Path(path)
    moments = result.get("moments", [])
    thumbs: dict[tuple[str, float], bytes | None] = {}
    by_video: dict[str, list[float]] = {}
    for m in moments:
        by_video.setdefault(m["video"], []).append(m["peak_s"])
    for video, times in by_video.items():
        for t, jpg in zip(times, keyframes(video, times), strict=True):
            thumbs[(video, t)] = jpg
    rows = []
    for m in moments:
        jpg = thumbs.get((m["video"], m["peak_s"]))
        when = seconds_text(m["peak_s"])
        clock = m.get("peak_clock")
        caption = when + (f" · {clock}" if clock else "")
        img = (
            f'<figure><img src="{_data_uri(jpg, "image/jpeg")}" alt="{html.escape(when)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            if jpg
            else f'<span class="meta">{html.escape(caption)}</span>'
        )
        video = Path(m["video"])
        try:
            target = os.path.relpath(video.resolve(), path.parent.resolve())
        except ValueError:
            target = str(video.resolve())
        link = f'<a href="{quote(Path(target).as_posix())}#t={m["start_s"]:.1f}">source</a>'
        rows.append(
            f'<tr><td>{m["rank"]}</td><td class="thumbs">{img}</td>'
            f"<td>{html.escape(video.name)}</td>"
            f"<td>{m['start_s']:.1f}-{m['end_s']:.1f} s</td>"
            f"<td>{m['similarity']:.3f}</td><td>{link}</td></tr>"
        )
    title = title or f"vad search: {result.get('query', '')}"
    table = (
        "<table><tr><th>#</th><th>best frame</th><th>video</th><th>time</th>"
        f"<th>similarity</th><th>open</th></tr>{''.join(rows)}</table>"
        if rows
        else "<p>No moments found.</p>"
    )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{PAGE_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="meta">{html.escape(result.get("kind", "text"))} query; '
        f"{_plural(result.get('videos', 0), 'video')}, {result.get('hours', 0):.2f} h of "
        "footage searched; moments ranked by cosine similarity of their best frame.</p>"
        f"{table}</body></html>\n"
    )
    atomic_write_text(path, page)
    return path


# -- the ``vad score`` flags ---------------------------------------------------------------------


def review_outputs(
    items: Sequence[tuple[Path, str]],
    out_dir: Path,
    plot: bool = False,
    overlay: bool = False,
    index: bool = False,
    threshold: float = 0.5,
    index_items: Sequence[tuple[Path, str]] | None = None,
) -> list[str]:
    """``--plot``, ``--overlay`` for the scored ``(video, stem)`` pairs whose ``<stem>.json``
    is in ``out_dir``, and ``--html`` for ``index_items`` (default: the same; ``vad score
    --resume`` adds the videos scored before); returns error lines (one per failure)."""
    import json

    errors: list[str] = []
    entries = []
    fresh = {stem for _, stem in items}
    for video, stem in index_items if index_items is not None else items:
        json_path = Path(out_dir) / f"{stem}.json"
        if not json_path.is_file():
            continue  # it failed to score: already reported
        try:
            result = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            errors.append(f"{json_path}: cannot read ({exc})")
            continue
        result.setdefault("event_threshold", threshold)
        entries.append({"video": video, "stem": stem, "result": result})
        if stem not in fresh:
            continue
        if plot:
            try:
                plot_result(result, Path(out_dir) / f"{stem}.png")
            except Exception as exc:  # noqa: BLE001 - one figure's problem
                errors.append(f"{video}: cannot draw {stem}.png ({exc})")
        if overlay:
            try:
                write_overlay(video, result, Path(out_dir) / f"{stem}.overlay.mp4")
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{video}: cannot write {stem}.overlay.mp4 ({exc})")
    if index and entries:
        try:
            write_index(out_dir, entries, title=f"vad score: {Path(out_dir).name}")
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{out_dir}/index.html: cannot write ({exc})")
    return errors

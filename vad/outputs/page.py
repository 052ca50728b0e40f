"""``--html``: ``index.html``, one self-contained page for the run (images inlined as data
URIs, no scripts, no network): what the run used (threshold, calibration, model, recipe; a
banner when the weights are random), then a row per video sorted by peak score with its
timeline on a time axis; opening a row shows its events' thumbnails captioned with their time,
and the events: what drove each, the descriptions with their similarities, and links to the
overlay and the source at that moment (:func:`write_index`). ``vad search --html`` writes its
moments the same way (:func:`write_search_page`).

Every piece of text that comes from data (names, descriptions) is HTML-escaped."""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np

from vad.files import atomic_write_text
from vad.outputs.captions import (
    _clock,
    _context_text,
    _random_weights,
    _threshold,
    _top_label,
    seconds_text,
)

log = logging.getLogger(__name__)


THUMB_WIDTH = 192


MAX_THUMBS = 6


TIMELINE_POINTS = 600


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

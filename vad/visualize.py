"""Results to look at, from the JSON ``vad score`` writes.

- :func:`plot_result` (``--plot``): ``<stem>.png``, the score over time with the events shaded and
  labelled with their top description and the scene context in the title.
- :func:`write_overlay` (``--overlay``): ``<stem>.overlay.mp4``, the video with a score bar and
  the current event's label drawn on every frame, at the input's frame count and rate.
- :func:`write_index` (``--html``): ``index.html``, one self-contained page for the run (images
  inlined as data URIs, no scripts, no network): a row per video sorted by peak score, keyframe
  thumbnails of its events and its timeline; opening a row lists the events.

Every piece of text that comes from data (names, descriptions) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from vad.outputs import atomic_write_text

log = logging.getLogger(__name__)

THUMB_WIDTH = 192
MAX_THUMBS = 6
TIMELINE_POINTS = 600


def _top_label(event: dict) -> str:
    desc = event.get("descriptions") or []
    return desc[0]["text"] if desc else "event"


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
        label = _top_label(ev)
        label = label if len(label) <= 32 else label[:31] + "…"
        ax.text(ev["start_s"], y, label, fontsize=8, color="darkred", va="bottom")
    ax.plot(t, scores, color="tab:blue", lw=1.2, label="anomaly score")
    ax.axhline(_threshold(result), color="grey", ls="--", lw=0.8, label="event threshold")
    ax.set_xlim(0, max(t[-1] if len(t) else 1.0, 1e-3))
    ax.set_ylim(0, 1.12)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("score")
    ax.set_title(f"{Path(result['video']).name} - {_context_text(result)}", fontsize=10)
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


def _draw(img: np.ndarray, score: float, label: str | None, threshold: float) -> np.ndarray:
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
                img = _draw(
                    np.ascontiguousarray(img[: vout.height, : vout.width]),
                    score,
                    _top_label(ev) if ev else None,
                    threshold,
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


def timeline_svg(result: dict, width: int = 600, height: int = 60) -> str:
    """The score over time as an inline SVG, events shaded, the threshold dashed."""
    scores = np.asarray(result["scores"], dtype=np.float64)
    n = len(scores)
    if n == 0:
        return ""
    idx = np.unique(np.linspace(0, n - 1, min(n, TIMELINE_POINTS)).round().astype(int))
    xs = idx / max(n - 1, 1) * width
    ys = (1 - np.clip(scores[idx], 0, 1)) * (height - 2) + 1
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    fps = float(result["fps"])
    duration = n / fps
    spans = "".join(
        f'<rect x="{ev["start_s"] / duration * width:.1f}" y="0" '
        f'width="{max(1.0, (ev["end_s"] - ev["start_s"]) / duration * width):.1f}" '
        f'height="{height}" fill="#e33" fill-opacity="0.25"><title>'
        f"{html.escape(_top_label(ev))}</title></rect>"
        for ev in result.get("events", [])
    )
    thr_y = (1 - _threshold(result)) * (height - 2) + 1
    return (
        f'<svg class="timeline" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="score timeline">'
        f'<rect width="{width}" height="{height}" fill="#f6f7f9"/>{spans}'
        f'<line x1="0" x2="{width}" y1="{thr_y:.1f}" y2="{thr_y:.1f}" stroke="#999" '
        f'stroke-dasharray="4 3"/><polyline points="{points}" fill="none" stroke="#1f77b4" '
        f'stroke-width="1.5"/></svg>'
    )


PAGE_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px} .meta{color:#666}
details{border:1px solid #ddd;border-radius:6px;margin:10px 0;padding:8px 12px;background:#fff}
summary{cursor:pointer;display:flex;flex-wrap:wrap;gap:12px;align-items:center}
summary .name{font-weight:600;min-width:220px} .peak{font-variant-numeric:tabular-nums}
.hot{color:#c00} .thumbs img{height:72px;margin-right:4px;border-radius:3px}
table{border-collapse:collapse;margin-top:8px} td,th{padding:3px 10px;border-bottom:1px solid #eee}
td:nth-child(-n+4){white-space:nowrap}
th{text-align:left}
"""


def _row(entry: dict, is_open: bool = False) -> str:
    result = entry["result"]
    events = result.get("events", [])
    scores = result.get("scores") or [0.0]
    peak = max(scores)
    hot = " hot" if events else ""
    thumbs = "".join(
        f'<img src="{_data_uri(jpg, "image/jpeg")}" alt="event {i + 1} at '
        f'{ev["peak_s"]:.1f} s" title="{html.escape(_top_label(ev))}">'
        for i, (ev, jpg) in enumerate(zip(events, entry.get("thumbs", []), strict=False))
        if jpg
    )
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{ev['start_s']:.1f}-{ev['end_s']:.1f} s</td>"
        f"<td>{ev['peak_s']:.1f} s</td><td>{ev['peak_score']:.3f}</td>"
        f"<td>{html.escape('; '.join(d['text'] for d in ev.get('descriptions', [])))}</td></tr>"
        for i, ev in enumerate(events)
    )
    table = (
        "<table><tr><th>#</th><th>time</th><th>peak at</th><th>peak</th>"
        f"<th>descriptions that fired</th></tr>{rows}</table>"
        if events
        else "<p>No events.</p>"
    )
    return (
        f'<details class="video"{" open" if is_open else ""}><summary><span class="name">'
        f"{html.escape(Path(result['video']).name)}</span>"
        f'<span class="peak{hot}">peak {peak:.3f}</span>'
        f"<span>{len(events)} events</span>"
        f'<span class="meta">{html.escape(_context_text(result))}</span>'
        f'<span class="thumbs">{thumbs}</span>{timeline_svg(result)}</summary>{table}</details>'
    )


def write_index(out_dir: str | Path, entries: Sequence[dict], title: str = "vad score") -> Path:
    """``index.html`` for ``entries`` (dicts with ``result`` and ``video``, the input path):
    one row per video, sorted by peak score (highest first)."""
    out_dir = Path(out_dir)
    full = []
    for entry in entries:
        result = entry["result"]
        events = result.get("events", [])[:MAX_THUMBS]
        thumbs = keyframes(entry["video"], [ev["peak_s"] for ev in events]) if events else []
        full.append({**entry, "thumbs": thumbs})
    full.sort(key=lambda e: -max(e["result"].get("scores") or [0.0]))
    n_events = sum(len(e["result"].get("events", [])) for e in full)
    body = "".join(_row(e, is_open=i == 0) for i, e in enumerate(full))  # the top one open
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{PAGE_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="meta">{len(full)} videos, {n_events} events; sorted by peak score. '
        "Open a row for its events.</p>"
        f"{body}</body></html>\n"
    )
    path = out_dir / "index.html"
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

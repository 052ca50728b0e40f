"""The ``vad eval`` report: PNG figures drawn with matplotlib's Agg renderer, and one
``report.html`` that shows them with the metrics - ROC and PR curves, score distributions,
per-video score timelines with the ground truth shaded, and the top events with the descriptions
that fired. The page needs nothing but its ``figures/`` folder (no scripts, no network); with
``single_file=True`` the figures are embedded in the page as base64 PNG ``data:`` URIs instead,
so ``report.html`` alone can be mailed. Every piece of text that comes from data (video names,
descriptions, settings) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

from vad.evaluation.datasets.base import NORMAL_LABEL, intervals_from_mask

MAX_CURVE_POINTS = 4000
MAX_CLASS_CURVES = 15
ANCHORS = {
    "ucf-crime": [
        ("zero-shot CLIP baseline", "AUC", 53.16),
        ("LAVAD (training-free, CVPR 2024)", "AUC", 80.28),
        # arXiv 2505.15205 v2 (abstract); its OpenReview version (BQwGPv4DTe) reports 87.7
        ("Flashback (zero-shot; arXiv v2, 87.7 in its OpenReview version)", "AUC", 87.3),
        ("NOVA (training-free, preprint; vad --config nova)", "AUC", 89.86),
    ],
    "xd-violence": [
        ("LAVAD (training-free, CVPR 2024)", "AP", 62.01),
        ("NOVA (training-free, preprint; vad --config nova)", "AP", 84.82),
    ],
}
"""Published frame-level numbers (percent) to read a result against; see docs/evaluation.md."""


@dataclass
class ReportVideo:
    """One video's data for the report: ground truth and scores per decoded frame."""

    name: str
    label: str
    stem: str
    labels: np.ndarray
    scores: np.ndarray
    fps: float
    events: list[dict] = field(default_factory=list)
    scene: str | None = None

    @property
    def is_anomalous(self) -> bool:
        return self.label != NORMAL_LABEL


def thin(x: np.ndarray, y: np.ndarray, max_points: int = MAX_CURVE_POINTS):
    """At most ``max_points`` evenly spaced points of a curve, first and last kept."""
    if len(x) <= max_points:
        return x, y
    idx = np.unique(np.linspace(0, len(x) - 1, max_points).round().astype(int))
    return x[idx], y[idx]


def roc_points(labels: np.ndarray, scores: np.ndarray):
    """``(fpr, tpr)`` of the ROC curve, or None when only one class is present."""
    from sklearn.metrics import roc_curve

    if len(np.unique(labels)) < 2:
        return None
    fpr, tpr, _ = roc_curve(labels, scores)
    return thin(fpr, tpr)


def pr_points(labels: np.ndarray, scores: np.ndarray):
    """``(recall, precision)`` of the precision-recall curve, or None without positives."""
    from sklearn.metrics import precision_recall_curve

    if not np.any(labels):
        return None
    precision, recall, _ = precision_recall_curve(labels, scores)
    return thin(recall, precision)


def embed_png(path: Path) -> str:
    """The PNG at ``path`` as a base64 ``data:`` URI (for a single-file report)."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig, path: Path, dpi: int) -> Path:
    """Write the PNG atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".png")
    from vad.files import ordinary_permissions

    ordinary_permissions(fd)  # 0644 as any output, not mkstemp's 0600
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _class_sets(videos: Sequence[ReportVideo]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per anomalous class: its videos' frames plus every normal frame (as the metrics do)."""
    normal = [v for v in videos if not v.is_anomalous]
    out = {}
    for cls in sorted({v.label for v in videos if v.is_anomalous}):
        members = [v for v in videos if v.label == cls] + normal
        out[cls] = (
            np.concatenate([v.labels for v in members]),
            np.concatenate([v.scores for v in members]),
        )
    return out


def plot_curves(videos: Sequence[ReportVideo], folder: Path, dpi: int = 100) -> dict[str, Path]:
    """``roc.png`` and ``pr.png`` over all frames (bold) and per anomalous class (thin);
    ``scores.png``, the score distributions of normal and anomalous frames."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from vad.evaluation.metrics import frame_ap_trapz

    labels = np.concatenate([v.labels for v in videos])
    scores = np.concatenate([v.scores for v in videos])
    classes = _class_sets(videos)
    if len(classes) > MAX_CLASS_CURVES:
        classes = {}
    out: dict[str, Path] = {}

    fig = _figure(5.5, 5)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--", label="chance (AUC 0.5)")
    for cls, (y, s) in classes.items():
        pts = roc_points(y, s)
        if pts is not None:
            ax.plot(*pts, lw=1, alpha=0.7, label=f"{cls} ({roc_auc_score(y, s):.3f})")
    pts = roc_points(labels, scores)
    if pts is not None:
        ax.plot(*pts, lw=2.5, color="black", label=f"all ({roc_auc_score(labels, scores):.3f})")
    else:
        ax.text(0.5, 0.5, "undefined: one class only", ha="center")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title("ROC, frame level (AUC)")
    ax.legend(fontsize=7, loc="lower right")
    out["roc"] = _save(fig, folder / "roc.png", dpi)

    fig = _figure(5.5, 5)
    ax = fig.add_subplot()
    for cls, (y, s) in classes.items():
        pts = pr_points(y, s)
        if pts is not None:
            ap = average_precision_score(y, s)
            ax.plot(*pts, lw=1, alpha=0.7, label=f"{cls} ({ap:.3f})", drawstyle="steps-post")
    pts = pr_points(labels, scores)
    if pts is not None:
        ap, trapz = average_precision_score(labels, scores), frame_ap_trapz(labels, scores)
        name = f"all (AP {ap:.3f}, trapezoid {trapz:.3f})"
        ax.plot(*pts, lw=2.5, color="black", label=name, drawstyle="steps-post")
        rate = float(labels.mean())
        ax.axhline(rate, color="0.7", lw=1, ls="--", label=f"chance ({rate:.3f})")
    else:
        ax.text(0.5, 0.5, "undefined: no anomalous frame", ha="center")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title("precision-recall, frame level (AP: step-wise; trapezoid: auc)")
    ax.legend(fontsize=7, loc="upper right")
    out["pr"] = _save(fig, folder / "pr.png", dpi)

    fig = _figure(5.5, 3.2)
    ax = fig.add_subplot()
    lo, hi = float(scores.min()), float(scores.max())
    pad = max(0.02, 0.05 * (hi - lo))  # bins over the scores' range: detail where they lie
    lo, hi = max(0.0, lo - pad), min(1.0, hi + pad)
    bins = np.linspace(lo, hi, 51)
    for flag, name, color in ((0, "normal frames", "tab:blue"), (1, "anomalous frames", "tab:red")):
        part = scores[labels == flag]
        if len(part):
            ax.hist(part, bins=bins, density=True, alpha=0.5, color=color, label=name)
    ax.set(xlabel="frame score", ylabel="density", xlim=(lo, hi))
    ax.set_title("score distributions")
    ax.legend(fontsize=8)
    out["scores"] = _save(fig, folder / "scores.png", dpi)
    return out


def plot_timeline(video: ReportVideo, path: Path, threshold: float = 0.5, dpi: int = 100) -> Path:
    """Score per decoded frame against time, ground-truth anomalies shaded red, events as
    orange bars above the curve, the event threshold dashed."""
    fig = _figure(10, 2.3)
    ax = fig.add_subplot()
    fps = float(video.fps) or 1.0
    t = np.arange(len(video.scores)) / fps
    for i, (s, e) in enumerate(intervals_from_mask(video.labels)):
        ax.axvspan(
            s / fps, (e + 1) / fps, color="tab:red", alpha=0.18, lw=0,
            label="ground truth" if i == 0 else None,
        )  # fmt: skip
    ax.plot(t, video.scores, color="tab:blue", lw=1.2, label="score")
    ax.axhline(threshold, color="0.5", lw=0.8, ls="--", label=f"threshold {threshold:g}")
    for i, ev in enumerate(video.events):
        ax.hlines(
            1.04, ev["start_s"], ev["end_s"], color="tab:orange", lw=4,
            label="event" if i == 0 else None,
        )  # fmt: skip
    end = t[-1] + 1 / fps if len(t) else 1.0
    ax.set(xlim=(0, end), ylim=(0, 1.08), xlabel="time (s)", ylabel="score")
    scene = f" - scene: {video.scene}" if video.scene else ""
    ax.set_title(f"{video.name} ({video.label}){scene}", fontsize=9, loc="left")
    ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1, 1), ncols=4, frameon=False)
    return _save(fig, path, dpi)


def top_events(videos: Sequence[ReportVideo], limit: int = 20) -> list[dict]:
    """The highest-peaking events over all videos, each with the fraction of its frames that
    the ground truth marks anomalous."""
    rows = []
    for v in videos:
        for ev in v.events:
            s, e = int(ev["start_frame"]), int(ev["end_frame"])
            span = v.labels[s : e + 1]
            rows.append(
                {
                    "video": v.name,
                    "label": v.label,
                    "stem": v.stem,
                    "start_s": ev["start_s"],
                    "end_s": ev["end_s"],
                    "peak_score": ev["peak_score"],
                    "ground_truth": float(span.mean()) if len(span) else 0.0,
                    "descriptions": ev.get("descriptions", []),
                }
            )
    rows.sort(key=lambda r: -r["peak_score"])
    return rows[:limit]


def choose_timelines(videos: Sequence[ReportVideo], limit: int) -> list[ReportVideo]:
    """Up to ``limit`` videos for timelines: anomalous ones first, list order kept."""
    ordered = [v for v in videos if v.is_anomalous] + [v for v in videos if not v.is_anomalous]
    return ordered[:limit]


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.2f}" if pct else f"{value:.4f}"


def _img(url: str, alt: str) -> str:
    """An image; ``url`` is already a URL (a quoted relative path or a ``data:`` URI)."""
    return f'<img src="{_e(url)}" alt="{_e(alt)}" loading="lazy">'


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222;
  padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; } .figs img { max-width: 520px; width: 100%; }
.timeline img { width: 100%; max-width: 1000px; } .muted { color: #777; }
.warn { color: #a40; }
.caution { background: #fdf1e0; border: 1px solid #e6c08a; color: #6b3d00; padding: 0.4em 1em;
  border-radius: 6px; } .caution ul { margin: 0.3em 0; }
"""


class Report:
    """Writes ``report.html`` and its ``figures/`` into an output folder.

    Parameters
    ----------
    title : page title.
    max_timelines : at most this many per-video timelines (anomalous videos first).
    max_events : rows of the top-events table.
    dpi : PNG resolution.
    """

    def __init__(
        self,
        title: str = "vad eval report",
        max_timelines: int = 100,
        max_events: int = 20,
        dpi: int = 100,
        single_file: bool = False,
    ):
        self.title = title
        self.max_timelines = max_timelines
        self.max_events = max_events
        self.dpi = dpi
        self.single_file = single_file

    def write(
        self,
        out_dir: str | Path,
        videos: Sequence[ReportVideo],
        metrics: dict,
        ablation: Sequence[dict] | None = None,
    ) -> Path:
        """Draw the figures and write ``<out_dir>/report.html``; returns its path. With
        ``single_file`` the figures are drawn in a temporary folder and embedded in the page."""
        from vad.files import atomic_write_text

        if not videos:
            raise ValueError("report: no scored videos to show")
        out_dir = Path(out_dir)
        if self.single_file:
            with tempfile.TemporaryDirectory(prefix="vad-report-") as tmp:
                page = self._page(Path(tmp), videos, metrics, ablation, embed_png)
        else:
            base = out_dir.resolve()
            page = self._page(
                out_dir / "figures",
                videos,
                metrics,
                ablation,
                lambda p: quote(Path(p).resolve().relative_to(base).as_posix()),
            )
        path = out_dir / "report.html"
        atomic_write_text(path, page)
        return path

    def _page(self, figures: Path, videos, metrics: dict, ablation, url: Callable[[Path], str]):
        threshold = float(metrics.get("threshold", 0.5))
        curves = plot_curves(videos, figures, self.dpi)
        shown = choose_timelines(videos, self.max_timelines)
        timelines = [
            (v, plot_timeline(v, figures / f"timeline-{v.stem}.png", threshold, self.dpi))
            for v in shown
        ]
        events = top_events(videos, self.max_events)
        page = self.render(url, metrics, curves, timelines, events, ablation)
        return page + self._hidden_note(len(videos) - len(shown)) + "</body>\n</html>\n"

    @staticmethod
    def _hidden_note(hidden: int) -> str:
        if hidden <= 0:
            return ""
        return (
            f'<p class="muted">{hidden} more videos are not drawn; their scores are in '
            "<code>scores/</code>.</p>\n"
        )

    def render(self, url, metrics, curves, timelines, events, ablation) -> str:
        """The page up to the closing tags; ``url(path)`` turns a figure's path into its URL."""
        rel = url
        settings = metrics.get("settings", {})
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8">',
            f"<title>{_e(self.title)}</title>",
            f"<style>{CSS}</style></head>",
            "<body>",
            f"<h1>{_e(self.title)}</h1>",
            self._cautions(metrics),
            self._summary(metrics),
            self._settings(settings, metrics),
            self._problems(metrics),
            self._annotation_notes(metrics),
            "<h2>Curves</h2>",
            '<div class="figs">',
            _img(rel(curves["roc"]), "ROC curve"),
            _img(rel(curves["pr"]), "precision-recall curve"),
            _img(rel(curves["scores"]), "score distributions"),
            "</div>",
            self._per_class(metrics),
            self._ablation(ablation),
            self._events(events),
            "<h2>Timelines</h2>",
            '<p class="muted">Score per decoded frame; red: ground-truth anomaly; orange bars: '
            "detected events.</p>",
        ]
        for v, path in timelines:
            parts.append(f'<div class="timeline" id="{_e(v.stem)}">{_img(rel(path), v.name)}</div>')
        return "\n".join(parts) + "\n"

    @staticmethod
    def _cautions(m: dict) -> str:
        """What to know before reading the numbers (a small test set, random weights)."""
        items = "".join(f"<li>{_e(c)}</li>" for c in m.get("cautions") or [])
        return (
            f'<div class="caution"><strong>Read with care:</strong><ul>{items}</ul></div>'
            if items
            else ""
        )

    def _summary(self, m: dict) -> str:
        rows = [
            ("AUC (frame level)", _fmt(m.get("auc"))),
            ("AP (frame level, average_precision_score)", _fmt(m.get("ap"))),
            ("AP (frame level, trapezoid auc(recall, precision))", _fmt(m.get("ap_trapz"))),
            ("AUC, anomalous videos only", _fmt(m.get("auc_anomalous_only"))),
            (f"false-alarm rate (score &ge; {_e(m.get('threshold'))})",
             _fmt(m.get("false_alarm_rate"))),
            ("videos scored (anomalous)",
             f"{m.get('num_videos', 0)} ({m.get('num_anomalous_videos', 0)})"),
            ("frames", str(m.get("num_frames", 0))),
            ("ground-truth protocol", (m.get("protocol") or {}).get("name", "vad")),
        ]  # fmt: skip
        body = "".join(f'<tr><th>{k}</th><td class="n">{_e(v)}</td></tr>' for k, v in rows)
        out = f"<h2>Result</h2><table>{body}</table>"
        anchors = ANCHORS.get(m.get("dataset", ""), [])
        if anchors:
            items = "".join(f"<li>{_e(n)}: {w} {v:.2f}</li>" for n, w, v in anchors)
            out += (
                '<p class="muted">Published anchors on the full test split (percent), '
                f"for orientation:</p><ul class=muted>{items}</ul>"
            )
        return out

    def _settings(self, settings: dict, m: dict) -> str:
        keys = [("dataset", m.get("dataset")), ("annotations", m.get("annotations"))]
        keys += [(f"protocol: {k}", v) for k, v in (m.get("protocol") or {}).items()]
        keys += [(k, v) for k, v in settings.items()]
        cache = m.get("cache")
        if cache:
            keys.append(("embedding cache", f"{cache.get('hits', 0)} hits, "
                                            f"{cache.get('misses', 0)} misses"))  # fmt: skip
        body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in keys)
        return f"<h2>Settings</h2><table>{body}</table>"

    def _problems(self, m: dict) -> str:
        items = [f"<li>missing: {_e(x['name'])} <span class=muted>({_e(x['path'])})</span></li>"
                 for x in m.get("missing", [])]  # fmt: skip
        items += [
            f"<li>failed: {_e(x['name'])}: {_e(x['error'])}</li>" for x in m.get("failed", [])
        ]
        if not items:
            return ""
        return (
            f'<h2 class="warn">Excluded videos ({len(items)})</h2>'
            f"<p>Listed in the annotations but not scored; the metrics leave them out.</p>"
            f"<ul>{''.join(items)}</ul>"
        )

    def _per_class(self, m: dict) -> str:
        per_class = m.get("per_class") or {}
        if not per_class:
            return ""
        rows = "".join(
            f'<tr><td>{_e(c)}</td><td class="n">{v.get("num_videos", 0)}</td>'
            f'<td class="n">{_fmt(v.get("auc"))}</td><td class="n">{_fmt(v.get("ap"))}</td>'
            f'<td class="n">{_fmt(v.get("ap_trapz"))}</td></tr>'
            for c, v in per_class.items()
        )
        return (
            "<h2>Per class</h2><p class=muted>Each class's videos plus all normal videos.</p>"
            "<table><tr><th>class</th><th>videos</th><th>AUC</th><th>AP</th><th>AP (trapezoid)</th>"
            f"</tr>{rows}</table>"
        )

    def _ablation(self, rows: Sequence[dict] | None) -> str:
        if not rows:
            return ""
        body = "".join(
            f"<tr><td>{_e(r['context'])}{' *' if r.get('this_run') else ''}</td>"
            f"<td>{_e(r['smoothing'])}</td><td class=n>{r['window_s']:g}</td>"
            f"<td>{_e(r['prompts'])}</td><td>{_e(_recipe(r))}</td>"
            f"<td class=n>{_fmt(r['auc'], True)}</td>"
            f"<td class=n>{_fmt(r['ap'], True)}</td>"
            f"<td class=n>{_fmt(r.get('ap_trapz'), True)}</td></tr>"
            for r in rows
        )
        return (
            "<h2>Ablation</h2><p class=muted>Same embeddings, re-scored; percent; "
            "* = this run.</p><table><tr><th>context</th><th>smoothing</th><th>window (s)</th>"
            "<th>prompts</th><th>scoring</th><th>AUC</th><th>AP</th><th>AP (trapezoid)</th>"
            f"</tr>{body}</table>"
        )

    def _annotation_notes(self, m: dict) -> str:
        """Suspicious annotation lines and intervals past the decoded end, if any."""
        warnings = m.get("annotation_warnings") or []
        past = m.get("intervals_past_end") or {}
        items = [f"<li>{_e(w)}</li>" for w in warnings]
        items += [
            f"<li>{_e(v['name'])}: {v['intervals_past_end']} annotated interval(s) end after "
            f"the last decoded frame ({v['num_frames']} frames); clipped</li>"
            for v in m.get("videos", [])
            if v.get("intervals_past_end")
        ]
        if not items:
            return ""
        return (
            f'<h2 class="warn">Annotation notes ({len(warnings)} warnings, '
            f"{past.get('videos', 0)} videos with intervals past the end)</h2>"
            f"<ul>{''.join(items)}</ul>"
        )

    def _events(self, events: Sequence[dict]) -> str:
        if not events:
            return "<h2>Top events</h2><p class=muted>No span reached the event threshold.</p>"
        rows = []
        for i, ev in enumerate(events, 1):
            descs = "<br>".join(
                f"{_e(d['text'])} <span class=muted>({d['similarity']:.3f})</span>"
                for d in ev["descriptions"]
            )
            rows.append(
                f'<tr><td class="n">{i}</td><td><a href="#{_e(ev["stem"])}">{_e(ev["video"])}</a>'
                f" <span class=muted>({_e(ev['label'])})</span></td>"
                f'<td class="n">{ev["start_s"]:.1f}&ndash;{ev["end_s"]:.1f} s</td>'
                f'<td class="n">{ev["peak_score"]:.3f}</td>'
                f'<td class="n">{100 * ev["ground_truth"]:.0f}%</td><td>{descs}</td></tr>'
            )
        return (
            "<h2>Top events</h2><p class=muted>Highest peaks over all videos; "
            "<em>in ground truth</em>: share of the event's frames annotated anomalous.</p>"
            "<table><tr><th>#</th><th>video</th><th>span</th><th>peak</th>"
            "<th>in ground truth</th><th>descriptions that fired</th></tr>"
            + "".join(rows)
            + "</table>"
        )


def _recipe(row: dict) -> str:
    """The scoring recipe of an ablation row (docs/quality.md), e.g. "margin, nova anchor,
    motion gate nova, refine none"."""
    if "head" not in row:
        return ""
    anchor = row.get("anchor")
    if isinstance(anchor, bool):  # rows written before anchors had modes
        anchor = "nova" if anchor else "none"
    anchor_text = "no anchor" if anchor in (None, "none") else f"{anchor} anchor"
    gate = row.get("motion_gate")
    gate_text = "" if gate in (None, "off") else f", motion gate {gate}"
    return f"{row['head']}, {anchor_text}{gate_text}, refine {row.get('refine')}"

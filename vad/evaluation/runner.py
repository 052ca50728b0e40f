"""``vad eval``, the runner: score every video of a labelled test set once and measure frame-level
AUC / AP against its ground truth. The metric math lives in :mod:`vad.evaluate` (pure
functions), the figures and HTML in :mod:`vad.report`.

Stages: annotations -> listed-but-missing videos set aside -> an engine (:mod:`vad.engine`: local
or Ray) embeds (through the embedding cache) and scores each video -> ground truth at the
*decoded* length -> metrics. The embeddings can
be kept in memory so that an ablation grid re-scores them under other settings (context,
smoothing, prompt bank) without decoding or encoding anything again.

>>> anns = load_annotations("ucf-crime", "Temporal_Anomaly.txt", "Videos")  # doctest: +SKIP
>>> run = Evaluator(LocalEngine(Detector())).run(anns, Path("out/scores"))   # doctest: +SKIP
>>> run.metrics(threshold=0.5)["auc"]                                       # doctest: +SKIP
"""

from __future__ import annotations

import copy
import itertools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vad.cache import VideoEmbeddings
from vad.datasets.base import VideoAnnotation, split_present
from vad.datasets.protocol import VAD, Protocol
from vad.evaluate import PerVideo, compute_metrics, frame_auc
from vad.naming import output_stems
from vad.outputs import write_result

ABLATION_WINDOWS = (0.0, 1.0, 2.0, 4.0)
"""Default smoothing windows (seconds) of the ablation grid; 0 = no smoothing."""

DATASET_BANKS = {"ucf-crime": "ucf-crime", "xd-violence": "xd-violence"}
"""The shipped prompt bank written for a dataset; the ablation grid adds it to the run's bank."""


@dataclass
class ScoredVideo:
    """One evaluated video: its annotation, output stem, ``vad score`` result and the
    ground-truth protocol it is evaluated under."""

    annotation: VideoAnnotation
    stem: str
    result: dict
    from_cache: bool = False
    protocol: Protocol = VAD

    @property
    def scores(self) -> np.ndarray:
        """The per-frame scores exactly as written to ``scores/<stem>.json``."""
        return np.asarray(self.result["scores"], dtype=np.float64)

    @property
    def labels(self) -> np.ndarray:
        """Ground truth of the evaluated frames (the protocol's, at the decoded length;
        annotations past the end are clipped)."""
        return self.annotation.frame_labels(int(self.result["num_frames"]), self.protocol)

    @property
    def eval_scores(self) -> np.ndarray:
        """The scores of the frames the protocol evaluates (all of them under ``vad``)."""
        return self.scores[: self.protocol.kept_frames(int(self.result["num_frames"]))]

    def as_per_video(self) -> PerVideo:
        return (self.annotation.name, self.annotation.label, self.labels, self.eval_scores)


@dataclass
class EvalRun:
    """What :meth:`Evaluator.run` found: scored, missing and failed videos, and timings."""

    scored: list[ScoredVideo]
    missing: list[VideoAnnotation]
    failed: list[tuple[VideoAnnotation, str]]
    embeddings: dict[str, VideoEmbeddings] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    protocol: Protocol = VAD

    def use_protocol(self, protocol: Protocol) -> None:
        """Evaluate every scored video under ``protocol`` (the same for both engines)."""
        self.protocol = protocol
        for v in self.scored:
            v.protocol = protocol

    @property
    def num_listed(self) -> int:
        return len(self.scored) + len(self.missing) + len(self.failed)

    @property
    def cache_hits(self) -> int:
        return sum(v.from_cache for v in self.scored)

    def metrics(self, threshold: float = 0.5) -> dict:
        """:func:`~vad.evaluate.compute_metrics` over the scored videos (None values when no
        video could be scored)."""
        if not self.scored:
            return empty_metrics(threshold)
        return compute_metrics([v.as_per_video() for v in self.scored], threshold)


def empty_metrics(threshold: float) -> dict:
    """The metrics of an evaluation in which no video could be scored."""
    return {
        "auc": None,
        "ap": None,
        "ap_trapz": None,
        "auc_anomalous_only": None,
        "per_class": {},
        "false_alarm_rate": None,
        "threshold": float(threshold),
        "num_frames": 0,
        "num_videos": 0,
        "num_anomalous_videos": 0,
    }


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


class Evaluator:
    """Scores the videos of a labelled test set with an engine.

    Parameters
    ----------
    engine : a :class:`~vad.engine.Engine` (the local engine or Ray), or a
        :class:`~vad.pipeline.Detector` to run in this process (its embedding cache makes
        re-runs cheap).
    keep_embeddings : keep every video's embeddings in :attr:`EvalRun.embeddings` (for
        :func:`run_ablation`).
    protocol : the ground-truth convention of the run (:mod:`vad.datasets.protocol`).
    progress : show a progress bar on stderr (only when stderr is a terminal).
    echo : where per-video problems go, one line each (default: stderr).
    """

    def __init__(
        self,
        engine,
        keep_embeddings: bool = False,
        progress: bool = True,
        echo: Callable[[str], None] | None = None,
        protocol: Protocol = VAD,
    ):
        if not hasattr(engine, "run"):  # a Detector
            from vad.engine import LocalEngine

            engine = LocalEngine(engine)
        self.engine = engine
        self.keep_embeddings = keep_embeddings
        self.protocol = protocol
        self.progress = progress
        self.echo = echo or _stderr

    def run(
        self, annotations: Sequence[VideoAnnotation], scores_dir: Path | None = None
    ) -> EvalRun:
        """Embed and score every listed video present on disk; write ``<stem>.json``/``.csv``
        to ``scores_dir`` as each one finishes. Missing and undecodable videos are reported
        through ``echo`` and excluded, never scored as 0. Scored videos keep the listed order,
        whatever order the engine finishes them in."""
        from tqdm import tqdm

        t_start = time.perf_counter()
        present, missing = split_present(annotations)
        for ann in missing:
            self.echo(f"vad: missing: {ann.path} (listed as {ann.name}); excluded")
        stems = output_stems([a.path for a in present])
        run = EvalRun(scored=[], missing=missing, failed=[])
        scored: dict[int, ScoredVideo] = {}
        failed: dict[int, str] = {}
        embed_s = score_s = 0.0
        bar = tqdm(
            total=len(present),
            desc="evaluating",
            unit="video",
            disable=None if self.progress else True,
            file=sys.stderr,
        )
        try:
            outcomes = self.engine.run(
                [a.path for a in present], keep_embeddings=self.keep_embeddings
            )
            for out in outcomes:
                bar.update(1)
                bar.set_postfix_str(out.path.name[:40])
                ann, stem = present[out.index], stems[out.index]
                if out.error is not None:
                    failed[out.index] = out.error
                    self._echo(bar, f"vad: error: {out.error}; excluded")
                    continue
                embed_s += out.seconds - out.score_seconds
                score_s += out.score_seconds
                if scores_dir is not None:
                    write_result(out.result, scores_dir, stem)
                scored[out.index] = ScoredVideo(ann, stem, out.result, from_cache=out.from_cache)
                if self.keep_embeddings:
                    run.embeddings[stem] = out.embeddings
        finally:
            bar.close()
        run.scored = [scored[i] for i in sorted(scored)]
        run.failed = [(present[i], failed[i]) for i in sorted(failed)]
        run.use_protocol(self.protocol)
        run.seconds = {
            "embed": round(embed_s, 3),
            "score": round(score_s, 3),
            "total": round(time.perf_counter() - t_start, 3),
        }
        return run

    def _echo(self, bar, line: str) -> None:
        with bar.external_write_mode(file=sys.stderr):  # keeps a live progress bar intact
            self.echo(line)


def video_summaries(run: EvalRun) -> list[dict]:
    """One JSON-ready line per scored video: frames, ground truth, score range, own AUC."""
    out = []
    for v in run.scored:
        labels, scores = v.labels, v.eval_scores
        past_end = v.annotation.intervals_past_end(len(v.scores), v.protocol)
        auc = frame_auc(labels, scores) if len(scores) else float("nan")
        out.append(
            {
                "name": v.annotation.name,
                "stem": v.stem,
                "label": v.annotation.label,
                "num_frames": int(len(v.scores)),
                "evaluated_frames": int(len(scores)),
                "anomalous_frames": int(labels.sum()),
                "annotation_past_end": bool(past_end),
                "intervals_past_end": len(past_end),
                "max_score": round(float(v.scores.max()), 6) if len(v.scores) else None,
                "auc": None if np.isnan(auc) else round(float(auc), 6),
                "from_cache": v.from_cache,
            }
        )
    return out


def past_end_lines(run: EvalRun) -> list[str]:
    """One line per scored video with annotated intervals (or mask runs) ending after its last
    decoded frame."""
    lines = []
    for v in run.scored:
        n = len(v.scores)
        past = v.annotation.intervals_past_end(n, v.protocol)
        if past:
            spans = ", ".join(f"({s}, {e})" for s, e in past)
            lines.append(
                f"vad: warning: {v.annotation.name}: {len(past)} annotated interval(s) end after "
                f"the last decoded frame ({n} frames): {spans}; clipped"
            )
    return lines


SMALL_SET_VIDEOS = 10  # fewer videos than this, or fewer than 2 anomalous: a caution
SMALL_SET_ANOMALOUS = 2


def cautions(metrics: dict, results: Sequence[dict]) -> list[str]:
    """What a reader of these metrics must know first: a test set too small for its AUC and AP
    to mean much, and random model weights.

    >>> cautions({"num_videos": 3, "num_anomalous_videos": 1}, [])[0][:36]
    'small test set: 3 videos, 1 anomalou'
    """
    from vad.console import plural

    out = []
    n, anomalous = metrics.get("num_videos", 0), metrics.get("num_anomalous_videos", 0)
    if n < SMALL_SET_VIDEOS or anomalous < SMALL_SET_ANOMALOUS:
        out.append(
            f"small test set: {plural(n, 'video')}, {anomalous} anomalous; with fewer than "
            f"{SMALL_SET_VIDEOS} videos or {SMALL_SET_ANOMALOUS} anomalous ones, one video moves "
            "the AUC and AP a lot: not comparable with published full-split numbers"
        )
    warnings = [str(w) for r in results for w in r.get("warnings", [])]
    if any(w.startswith("random model weights") for w in warnings):
        out.append("random model weights: these metrics are meaningless (a pipeline check only)")
    return out


def metrics_document(run: EvalRun, metrics: dict, about: dict) -> dict:
    """The content of ``metrics.json``: ``about`` (dataset, annotations, settings), the
    ``cautions`` (:func:`cautions`), then the metrics, the protocol, what was missing or failed,
    intervals past the end, per-video lines, cache use and timings."""
    videos = video_summaries(run)
    return {
        **about,
        "cautions": cautions(metrics, [v.result for v in run.scored]),
        **metrics,
        "protocol": run.protocol.describe(),
        "intervals_past_end": {
            "videos": sum(v["intervals_past_end"] > 0 for v in videos),
            "intervals": sum(v["intervals_past_end"] for v in videos),
        },
        "num_listed": run.num_listed,
        "missing": [{"name": a.name, "path": str(a.path)} for a in run.missing],
        "failed": [{"name": a.name, "path": str(a.path), "error": e} for a, e in run.failed],
        "videos": videos,
        "cache": {"hits": run.cache_hits, "misses": len(run.scored) - run.cache_hits},
        "seconds": run.seconds,
    }


# -- ablations: one encoding pass, a grid of downstream settings --------------------------------


@dataclass(frozen=True)
class AblationConfig:
    """One point of the ablation grid: everything downstream of the embeddings. ``None`` keeps
    the run's setting; ``variant`` names the point in a one-piece-off grid (:func:`pieces_grid`)."""

    context: str
    window_s: float
    prompts: str
    head: str | None = None  # the scoring recipe (docs/quality.md); None = the run's
    anchor: str | None = None
    refine: str | None = None
    motion_gate: str | None = None
    variant: str | None = None


RECIPE_KEYS = ("head", "anchor", "refine", "motion_gate")
"""The Detector attributes an :class:`AblationConfig` can change besides context, window, bank."""


def ablation_grid(
    contexts: Sequence[str],
    windows: Sequence[float],
    prompts: Sequence[str],
    heads: Sequence[str | None] = (None,),
    anchors: Sequence[str | bool | None] = (None,),
    refines: Sequence[str | None] = (None,),
    motion_gates: Sequence[str | bool | None] = (None,),
) -> list[AblationConfig]:
    """The full product of the given values (duplicates dropped, order kept)."""
    from vad.heads import Scoring, anchor_mode, motion_gate_mode

    for w in windows:
        if w < 0 or not np.isfinite(w):
            raise ValueError(f"ablation smoothing window must be >= 0 seconds, got {w}")
    for h, r in itertools.product(heads, refines):
        Scoring(head=h or "margin", refine=r or "knn")  # an unknown name fails now
    anchors = [None if a is None else anchor_mode(a) for a in anchors]
    motion_gates = [None if g is None else motion_gate_mode(g) for g in motion_gates]
    axes = (contexts, [float(w) for w in windows], prompts, heads, anchors, refines, motion_gates)
    uniq = [list(dict.fromkeys(x)) for x in axes]
    if not all(uniq):
        raise ValueError("ablation grid is empty: give at least one context, window and bank")
    return [AblationConfig(*values) for values in itertools.product(*uniq)]


def default_ablation_grid(detector, dataset: str | None = None) -> list[AblationConfig]:
    """context none/auto (and the run's own), smoothing windows 0/1/2/4 s (and the run's),
    prompt banks: the run's and the one shipped for ``dataset``; then every head x anchor x
    refinement, and every motion gate, at the run's context, window and bank."""
    contexts = ["none", "auto", detector.context]
    windows = [*ABLATION_WINDOWS, float(detector.window_s)]
    banks = [str(detector.prompts)]
    if dataset in DATASET_BANKS:
        banks.append(DATASET_BANKS[dataset])
    run = ([detector.head], [detector.anchor], [detector.refine], [detector.motion_gate])
    grid = ablation_grid(contexts, sorted(set(windows)), banks, *run)
    from vad.heads import ANCHORS, HEADS, MOTION_GATES, REFINES

    own = ([detector.context], [float(detector.window_s)], [str(detector.prompts)])
    grid += ablation_grid(*own, HEADS, ANCHORS, REFINES, [detector.motion_gate])
    grid += ablation_grid(*own, [detector.head], [detector.anchor], [detector.refine], MOTION_GATES)
    return list(dict.fromkeys(grid))


RUN_RECIPE = "this run's recipe"
PREVIOUS_BANKS = "previous banks (no NA)"
BASELINE = "baseline: previous banks, no anchor, no motion gate"


def pieces_grid(
    detector, banks: Sequence[str], previous: Sequence[str] = ()
) -> list[AblationConfig]:
    """The run's recipe over every bank of ``banks``, then each piece of it switched in turn
    (anchor, motion gate, refinement, context, head, smoothing), each over every bank, so the
    summary (:func:`ablation_summary`) reports mean +- std over banks as NOVA does (Table 2).
    ``previous``: banks built without normality-aware construction; they get the run's
    recipe (NA off) and the baseline (NA, anchor and motion gate off; NOVA's first row)."""
    if not banks:
        raise ValueError("a one-piece-off grid needs at least one bank")
    from vad.heads import ANCHORS, HEADS

    window = float(detector.window_s) if detector.smoothing != "none" else 0.0
    base = {"context": detector.context, "window_s": window}
    base.update({k: getattr(detector, k) for k in RECIPE_KEYS})
    variants: list[tuple[str, dict]] = [(RUN_RECIPE, {})]
    variants += [(f"anchor {a}", {"anchor": a}) for a in ANCHORS if a != detector.anchor]
    if detector.motion_gate == "off":
        variants.append(("motion gate nova", {"motion_gate": "nova"}))
    else:
        variants.append(("motion gate off", {"motion_gate": "off"}))
        other = "unscaled" if detector.motion_gate == "nova" else "nova"
        variants.append((f"motion gate {other}", {"motion_gate": other}))
    flipped = "none" if detector.refine == "knn" else "knn"
    variants.append((f"refine {flipped}", {"refine": flipped}))
    context = "none" if detector.context.strip().lower() != "none" else "auto"
    variants.append((f"context {context}", {"context": context}))
    variants += [(f"head {h}", {"head": h}) for h in HEADS if h != detector.head]
    if window > 0:
        variants.append(("smoothing off", {"window_s": 0.0}))
    grid = [
        AblationConfig(**{**base, **changes, "prompts": str(bank), "variant": label})
        for label, changes in variants
        for bank in banks
    ]
    for label, changes in ((PREVIOUS_BANKS, {}), (BASELINE, {"anchor": "none"})):
        if label == BASELINE:
            changes = {**changes, "motion_gate": "off"}
        grid += [
            AblationConfig(**{**base, **changes, "prompts": str(bank), "variant": label})
            for bank in previous
        ]
    return grid


def _variant(base, config: AblationConfig):
    """A shallow copy of ``base`` (sharing its encoder and text embeddings) with the config's
    context and smoothing window; window 0 turns smoothing off."""
    det = copy.copy(base)
    det.explain = False  # only the scores are read
    det.context = config.context
    det.window_s = config.window_s
    for key in RECIPE_KEYS:
        if getattr(config, key) is not None:
            setattr(det, key, getattr(config, key))
    if config.window_s <= 0:
        det.smoothing = "none"
    elif det.smoothing == "none":
        det.smoothing = "gaussian"
    return det


def run_ablation(
    detector, run: EvalRun, grid: Sequence[AblationConfig], progress: bool = True
) -> list[dict]:
    """Re-score the kept embeddings of ``run`` under every config of ``grid``; one row of
    metrics per config. Decodes and encodes nothing (text embeddings of a new prompt bank are
    the only encoder work)."""
    from tqdm import tqdm

    missing = [v.stem for v in run.scored if v.stem not in run.embeddings]
    if missing:
        raise ValueError(f"run_ablation: embeddings were not kept for {', '.join(missing)}")
    by_bank: dict[str, object] = {}
    rows = []
    for config in tqdm(grid, desc="ablation", disable=None if progress else True, file=sys.stderr):
        base = by_bank.get(config.prompts)
        if base is None:
            if config.prompts == str(detector.prompts):
                base = detector
            else:
                base = type(detector)(**_params(detector, prompts=config.prompts))
            base.text_embeddings()  # computed once per bank, shared by the copies below
            by_bank[config.prompts] = base
        det = _variant(base, config)
        per_video = []
        for v in run.scored:
            result = det.score_embeddings(run.embeddings[v.stem], video=v.annotation.path)
            labels = v.labels  # the protocol's frames: the first len(labels) scores
            scores = np.asarray(result["scores"])[: len(labels)]
            per_video.append((v.annotation.name, v.annotation.label, labels, scores))
        m = compute_metrics(per_video, det.event_threshold)
        row = {"variant": config.variant} if config.variant is not None else {}
        rows.append(
            {
                **row,
                "context": config.context,
                "smoothing": det.smoothing,
                "window_s": config.window_s,
                "prompts": config.prompts,
                "head": det.head,
                "anchor": det.anchor,
                "refine": det.refine,
                "motion_gate": det.motion_gate,
                "auc": m["auc"],
                "ap": m["ap"],
                "ap_trapz": m["ap_trapz"],
                "auc_anomalous_only": m["auc_anomalous_only"],
                "false_alarm_rate": m["false_alarm_rate"],
                "this_run": _is_run_config(detector, config),
            }
        )
    return rows


SUMMARY_METRICS = ("auc", "ap", "ap_trapz", "auc_anomalous_only")


def ablation_summary(rows: Sequence[dict]) -> list[dict]:
    """Rows of a one-piece-off grid grouped by ``variant`` (in order of appearance): the banks
    each was measured on and, per metric, the mean and the sample standard deviation (n - 1;
    None for a single bank) over those banks.

    >>> rows = [{"variant": "v", "prompts": b, "auc": a, "ap": 0.5, "ap_trapz": 0.5,
    ...          "auc_anomalous_only": None, "head": "margin", "anchor": "nova",
    ...          "refine": "none", "motion_gate": "nova", "context": "none", "window_s": 1.667}
    ...         for b, a in (("b1", 0.8), ("b2", 0.9))]
    >>> s = ablation_summary(rows)[0]
    >>> s["banks"], round(s["auc_mean"], 3), round(s["auc_std"], 4), s["auc_anomalous_only_mean"]
    (['b1', 'b2'], 0.85, 0.0707, None)
    """
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r.get("variant") or "", []).append(r)
    out = []
    for variant, members in groups.items():
        first = members[0]
        entry = {"variant": variant, "banks": [m["prompts"] for m in members]}
        entry.update({k: first.get(k) for k in ("context", "window_s", *RECIPE_KEYS)})
        for key in SUMMARY_METRICS:
            values = [m[key] for m in members if m.get(key) is not None]
            entry[f"{key}_mean"] = float(np.mean(values)) if values else None
            entry[f"{key}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
        out.append(entry)
    return out


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{100 * mean:.2f}" + ("" if std is None else f" ± {100 * std:.2f}")


def ablation_summary_markdown(summary: Sequence[dict], title: str = "One piece off") -> str:
    """The summary of a one-piece-off grid as a Markdown table (percent, mean ± std over
    banks)."""
    lines = [
        f"# {title}",
        "",
        "Each row is the run's recipe with one piece switched; metrics in percent, mean ± "
        "sample standard deviation over the banks listed (frame-level, all test frames "
        "concatenated).",
        "",
        "| variant | banks | head | anchor | motion gate | refine | context | window (s) "
        "| AUC | AP | AP (trapezoid) | AUC (anomalous videos) |",
        "|---|---|---|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for e in summary:
        banks = ", ".join(str(b) for b in e["banks"]).replace("|", "\\|")
        context = str(e["context"]).replace("|", "\\|")
        lines.append(
            f"| {e['variant']} | {banks} | {e['head']} | {e['anchor']} | {e['motion_gate']} "
            f"| {e['refine']} | {context} | {e['window_s']:g} "
            f"| {_pm(e['auc_mean'], e['auc_std'])} | {_pm(e['ap_mean'], e['ap_std'])} "
            f"| {_pm(e['ap_trapz_mean'], e['ap_trapz_std'])} "
            f"| {_pm(e['auc_anomalous_only_mean'], e['auc_anomalous_only_std'])} |"
        )
    return "\n".join(lines) + "\n"


def _params(detector, **changes) -> dict:
    """Constructor arguments that rebuild ``detector`` (sharing its encoder), with changes."""
    import inspect

    names = [n for n in inspect.signature(type(detector).__init__).parameters if n != "self"]
    params = {n: getattr(detector, n) for n in names if n != "encoder" and hasattr(detector, n)}
    params["encoder"] = detector.encoder
    params.update(changes)
    return params


def _is_run_config(detector, config: AblationConfig) -> bool:
    same_window = (config.window_s <= 0 and detector.smoothing == "none") or (
        detector.smoothing != "none" and config.window_s == float(detector.window_s)
    )
    same_recipe = all(getattr(config, k) in (None, getattr(detector, k)) for k in RECIPE_KEYS)
    return (
        config.context == detector.context
        and config.prompts == str(detector.prompts)
        and same_window
        and same_recipe
    )


def _anchor(value) -> str:
    """An anchor as a table cell (rows written before anchors had modes said on/off)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "nova" if value else "none"
    return str(value)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def ablation_markdown(rows: Sequence[dict], title: str = "Ablation") -> str:
    """The ablation rows as a Markdown table (metrics in percent, as papers report them);
    the run's own settings are marked with *."""
    lines = [
        f"# {title}",
        "",
        "Metrics in percent; frame-level, all test frames concatenated. "
        "`*` marks the settings of this run.",
        "",
        "| context | smoothing | window (s) | prompts | head | anchor | motion gate | refine "
        "| AUC | AP | AP (trapezoid) | AUC (anomalous videos) | false alarms |",
        "|---|---|---:|---|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mark = " *" if r.get("this_run") else ""
        context = str(r["context"]).replace("|", "\\|")
        prompts = str(r["prompts"]).replace("|", "\\|")
        lines.append(
            f"| {context}{mark} | {r['smoothing']} | {r['window_s']:g} | {prompts} "
            f"| {r.get('head', '')} | {_anchor(r.get('anchor'))} | {r.get('motion_gate', '')} "
            f"| {r.get('refine', '')} "
            f"| {_pct(r['auc'])} | {_pct(r['ap'])} | {_pct(r.get('ap_trapz'))} "
            f"| {_pct(r['auc_anomalous_only'])} "
            f"| {_pct(r['false_alarm_rate'])} |"
        )
    return "\n".join(lines) + "\n"

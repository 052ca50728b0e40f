"""Ablations: one encoding pass, a grid of downstream settings. The embeddings an
:class:`~vad.evaluation.runner.EvalRun` kept are re-scored under each
:class:`AblationConfig` (context, smoothing window, prompt bank, head, anchor, refinement,
motion gate) without decoding or encoding again (:func:`run_ablation`): a product grid
(:func:`ablation_grid`, :func:`default_ablation_grid`) or one piece of the run's recipe
switched off at a time (:func:`pieces_grid`), written as Markdown tables."""

from __future__ import annotations

import copy
import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vad.evaluation.metrics import compute_metrics
from vad.evaluation.runner import EvalRun

ABLATION_WINDOWS = (0.0, 1.0, 2.0, 4.0)
"""Default smoothing windows (seconds) of the ablation grid; 0 = no smoothing."""


DATASET_BANKS = {"ucf-crime": "ucf-crime", "xd-violence": "xd-violence"}
"""The shipped prompt bank written for a dataset; the ablation grid adds it to the run's bank."""


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
    from vad.scoring.heads import Scoring, anchor_mode, motion_gate_mode

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
    from vad.scoring.heads import ANCHORS, HEADS, MOTION_GATES, REFINES

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
    from vad.scoring.heads import ANCHORS, HEADS

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

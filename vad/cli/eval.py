"""``vad eval``: score a labelled test set with an engine
(:class:`~vad.evaluation.runner.Evaluator`), write metrics.json, the ablation tables and the
HTML report, print the metrics table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vad.cli.build import (
    DETECTOR_KEYS,
    build_detector,
    build_engine,
    detector_settings,
    driver_settings,
    load_encoder_or_exit,
)
from vad.cli.options import add_detector_options, add_engine_options, check_engine_options
from vad.errors import UsageError
from vad.model.runtime import encoder_facts


def cmd_eval(args: argparse.Namespace) -> int:
    """``vad eval``: score a labelled test set; metrics.json, scores/, report.html."""
    import json

    from vad.evaluation.metrics import format_table
    from vad.evaluation.runner import Evaluator, metrics_document, past_end_lines
    from vad.files import atomic_write_text
    from vad.model.prompts import PromptBank

    settings = detector_settings(args)
    check_engine_options(args)
    protocol, warnings, annotations = load_test_set(args)
    detector = build_detector(driver_settings(args, settings))
    ablate, grid = ablation_grid_of(args, detector)
    for bank in dict.fromkeys(c.prompts for c in grid):  # fail now, not after encoding
        PromptBank.from_yaml(bank)
    load_encoder_or_exit(detector)
    out_dir = Path(args.out)
    engine = build_engine(args, settings, detector, encoder=detector.encoder)
    try:
        evaluator = Evaluator(engine, keep_embeddings=ablate, protocol=protocol)
        run = evaluator.run(annotations, out_dir / "scores")
    finally:  # stop the decode worker, where there is one; nothing below decodes
        engine.close()
        getattr(detector, "close", lambda: None)()
    for line in past_end_lines(run):
        print(line, file=sys.stderr)
    about = run_about(args, settings, detector, warnings)
    metrics = metrics_document(run, run.metrics(detector.event_threshold), about)
    atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    problems = len(run.missing) + len(run.failed)
    if not run.scored:
        print(
            f"vad: error: none of the {run.num_listed} listed videos could be scored",
            file=sys.stderr,
        )
        return 1
    for caution in metrics["cautions"]:
        print(f"vad: warning: {caution}", file=sys.stderr)
    rows = table = None
    if ablate:
        rows, table = write_ablation(args, detector, run, grid, out_dir)
    if not args.no_report:
        write_eval_report(run, metrics, out_dir, rows, single_file=args.report_single_file)
    print(format_table(metrics))
    if rows is not None:
        print("\n" + table, end="")
    print(
        f"\nwrote {out_dir / 'metrics.json'}"
        + ("" if args.no_report else f", {out_dir / 'report.html'}")
    )
    if problems:
        print(
            f"vad: {len(run.missing)} missing and {len(run.failed)} failed of "
            f"{run.num_listed} listed videos (excluded from the metrics)",
            file=sys.stderr,
        )
    return 1 if problems else 0


def load_test_set(args: argparse.Namespace):
    """``(protocol, warnings, annotations)`` of ``--dataset``/``--annotations``/``--videos``,
    after ``--test-list`` and ``--limit``; the annotation warnings printed."""
    from vad.evaluation.datasets import (
        AnnotationWarnings,
        get_protocol,
        limit_balanced,
        load_annotations,
    )

    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    protocol = get_protocol(args.protocol, args.mask_pad)
    warnings = AnnotationWarnings(strict=args.strict)
    try:
        annotations = load_annotations(
            args.dataset, args.annotations, args.videos, warnings, test_list=args.test_list
        )
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    for line in warnings.lines:
        print(f"vad: warning: {line}", file=sys.stderr)
    if not annotations:
        raise UsageError(f"{args.annotations}: lists no videos")
    if args.limit is not None:
        annotations = limit_balanced(annotations, args.limit)
    return protocol, warnings, annotations


def ablation_grid_of(args: argparse.Namespace, detector) -> tuple[bool, list]:
    """``(ablate, grid)``: whether the ``--ablate*`` options ask for an ablation, and its grid."""
    from vad.evaluation.ablation import ablation_grid, default_ablation_grid, pieces_grid

    recipe_axes = (
        args.ablate_heads,
        args.ablate_anchors,
        args.ablate_refines,
        args.ablate_motion_gates,
    )
    other_axes = (args.ablate_contexts, args.ablate_windows, *recipe_axes)
    if args.ablate_pieces and any(other_axes):
        raise UsageError(
            "--ablate-pieces switches each piece of the run's recipe in turn; give it banks "
            "(--ablate-prompts, --ablate-previous-prompts), not other --ablate-* axes"
        )
    if args.ablate_previous_prompts and not args.ablate_pieces:
        raise UsageError("--ablate-previous-prompts: only with --ablate-pieces")
    axes = (*other_axes, args.ablate_prompts)
    if args.ablate_pieces:
        return True, pieces_grid(
            detector,
            args.ablate_prompts or [str(detector.prompts)],
            args.ablate_previous_prompts or [],
        )
    if not (args.ablate or any(axes)):
        return False, []
    default = default_ablation_grid(detector, args.dataset)
    if not any(axes):
        return True, default
    return True, ablation_grid(
        args.ablate_contexts or list(dict.fromkeys(c.context for c in default)),
        args.ablate_windows or list(dict.fromkeys(c.window_s for c in default)),
        args.ablate_prompts or list(dict.fromkeys(c.prompts for c in default)),
        args.ablate_heads or [detector.head],
        [_on_off(a, "nova", "none") for a in args.ablate_anchors or []] or [detector.anchor],
        args.ablate_refines or [detector.refine],
        [_on_off(g, "nova", "off") for g in args.ablate_motion_gates or []]
        or [detector.motion_gate],
    )


def run_about(args: argparse.Namespace, settings: dict, detector, warnings) -> dict:
    """metrics.json's description of the run: the data set and the settings that ran."""
    effective = {k: getattr(detector, k) for k in DETECTOR_KEYS}
    effective.update({k: settings.get(k, "auto") for k in ("device", "precision")})  # the actors'
    # the weights really used (a local-dir: folder, a checkpoint file), as `vad score` records
    effective["pretrained"] = getattr(detector.encoder, "pretrained_label", detector.pretrained)
    effective.update(encoder_facts(detector.encoder))  # what ran: runtime, precision
    return {
        "dataset": args.dataset,
        "annotations": str(args.annotations),
        "videos_dir": str(args.videos),
        "settings": {**effective, "prompts": detector.bank.name, "use_cache": detector.use_cache},
        "test_list": None if args.test_list is None else str(args.test_list),
        "annotation_warnings": warnings.lines,
    }


def write_ablation(args: argparse.Namespace, detector, run, grid, out_dir: Path):
    """Re-score ``run`` over ``grid``; write ablation.md/.json (and the one-piece-off summary
    with ``--ablate-pieces``). Returns ``(rows, the Markdown printed)``."""
    import json

    from vad.evaluation.ablation import (
        ablation_markdown,
        ablation_summary,
        ablation_summary_markdown,
        run_ablation,
    )
    from vad.files import atomic_write_text

    rows = run_ablation(detector, run, grid)
    title = f"Ablation: {args.dataset}, {len(run.scored)} videos, {detector.model}"
    table = ablation_markdown(rows, title)
    if args.ablate_pieces:
        summary = ablation_summary(rows)
        title = f"One piece off: {args.dataset}, {len(run.scored)} videos, {detector.model}"
        summary_table = ablation_summary_markdown(summary, title)
        atomic_write_text(out_dir / "ablation_summary.md", summary_table)
        atomic_write_text(out_dir / "ablation_summary.json", json.dumps(summary, indent=1) + "\n")
        table = summary_table + "\n" + table
    atomic_write_text(out_dir / "ablation.md", table)
    atomic_write_text(out_dir / "ablation.json", json.dumps(rows, indent=1) + "\n")
    return rows, table


def _on_off(value: str, on: str, off: str) -> str:
    """``on``/``off`` in an ablation axis stand for a mode (anchor: nova/none)."""
    return {"on": on, "off": off}.get(value, value)


def write_eval_report(
    run, metrics: dict, out_dir: Path, ablation=None, single_file: bool = False
) -> Path:
    from vad.evaluation.report import Report, ReportVideo

    videos = [
        ReportVideo(
            name=v.annotation.name,
            label=v.annotation.label,
            stem=v.stem,
            labels=v.labels,
            scores=v.eval_scores,
            fps=v.result["fps"],
            events=v.result["events"],
            scene=v.result["context"].get("scene"),
        )
        for v in run.scored
    ]
    title = f"vad eval: {metrics['dataset']} ({Path(metrics['annotations']).name})"
    return Report(title=title, single_file=single_file).write(out_dir, videos, metrics, ablation)


EVAL_EPILOG = """\
--dataset csv (custom datasets): a UTF-8 file with a header row, then one row per anomalous
interval (a video with several intervals has several rows):

  video,start_frame,end_frame,label
  fight01.mp4,10,50,Fighting
  fight01.mp4,90,120,Fighting
  street/robbery.mp4,0,30,Robbery
  calm_day.mp4,,,Normal

video: path relative to --videos, matched by stem when it does not exist as written.
Frames: 0-based, end included (under --protocol vad). Empty (or -1) start and end: a
video without an interval. label (optional column): without it, a video with intervals
is "Anomalous", one without "Normal". Videos directly in --videos without a row are
normal. Every format matches videos by stem, with or without a suffix.

Protocols (--protocol): vad = 0-based, end included, every decoded frame; sultani =
1-based, end included (original UCF-Crime scorer); vadclip = gt[s:e], whole 16-frame
snippets; xdviodet = gt[s:e], last frame dropped, whole 16-frame snippets (official
XD-Violence code). metrics.json reports both AP definitions: ap (average_precision_score)
and ap_trapz (auc(recall, precision)). See docs/evaluation.md.
"""


def add_eval_parser(sub) -> None:
    from vad.evaluation.datasets import DATASETS, PROTOCOLS
    from vad.evaluation.datasets.protocol import MASK_PADS

    ev = sub.add_parser(
        "eval",
        help="frame-level AUC/AP on a labelled test set, with score files and an HTML report",
        description="Score every video of a labelled test set and compute frame-level AUC and "
        "AP. Writes OUT/metrics.json, OUT/scores/<video>.json (the `vad score` schema) and "
        "OUT/report.html. Exit status 1 when a listed video is missing or fails to decode.",
        epilog=EVAL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ev.add_argument("--dataset", required=True, choices=sorted(DATASETS), help="annotation format")
    ev.add_argument("--annotations", required=True, metavar="FILE", help="annotation file")
    ev.add_argument("--videos", required=True, metavar="DIR", help="folder holding the videos")
    ev.add_argument("--out", default="vad-eval", help="output folder (default: vad-eval)")
    ev.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="only N videos, normal and anomalous in the file's proportion (>= 1 of each)",
    )
    ev.add_argument("--no-report", action="store_true", help="skip report.html and its figures")
    ev.add_argument(
        "--report-single-file",
        action="store_true",
        help="one self-contained report.html (figures embedded), no figures/ folder",
    )
    ev.add_argument(
        "--protocol",
        choices=list(PROTOCOLS),
        default="vad",
        help="ground-truth convention (default: vad; see below)",
    )
    ev.add_argument(
        "--mask-pad",
        choices=MASK_PADS,
        default="last",
        help="ShanghaiTech masks shorter than the video: repeat the last label (default, "
        "as RTFM) or zeros",
    )
    ev.add_argument(
        "--test-list",
        metavar="FILE",
        help="only the listed videos (one name or path a line), in list order; for "
        "shanghaitech the test set itself, e.g. the 199-video weakly supervised split",
    )
    ev.add_argument(
        "--strict",
        action="store_true",
        help="suspicious annotation lines (unknown class, 'normal' in another case, anomalous "
        "without interval) are errors, not warnings",
    )
    ab = ev.add_argument_group("ablation (one encoding pass, OUT/ablation.md)")
    ab.add_argument(
        "--ablate",
        action="store_true",
        help="also re-score a grid: context none/auto, smoothing 0/1/2/4 s, prompt banks, "
        "every scoring head x anchor x refinement, and every motion gate",
    )
    ab.add_argument(
        "--ablate-contexts",
        nargs="+",
        metavar="CONTEXT",
        help="contexts of the grid",
    )
    ab.add_argument(
        "--ablate-windows",
        nargs="+",
        type=float,
        metavar="SECONDS",
        help="windows (0 = none)",
    )
    ab.add_argument("--ablate-prompts", nargs="+", metavar="BANK", help="prompt banks of the grid")
    from vad.scoring.heads import ANCHORS, HEADS, MOTION_GATES, REFINES

    ab.add_argument("--ablate-heads", nargs="+", choices=HEADS, help="scoring heads of the grid")
    ab.add_argument(
        "--ablate-anchors",
        nargs="+",
        choices=[*ANCHORS, "on", "off"],
        help="anchors of the grid (on = nova, off = none)",
    )
    ab.add_argument("--ablate-refines", nargs="+", choices=REFINES, help="refinements of the grid")
    ab.add_argument(
        "--ablate-motion-gates",
        nargs="+",
        choices=[*MOTION_GATES, "on", "off"],
        help="motion gates of the grid (on = nova)",
    )
    ab.add_argument(
        "--ablate-pieces",
        action="store_true",
        help="instead of a product grid: the run's recipe, then each piece switched in turn "
        "(anchor, motion gate, refinement, context, head, smoothing), each over every bank of "
        "--ablate-prompts; OUT/ablation_summary.md gives mean ± std over the banks",
    )
    ab.add_argument(
        "--ablate-previous-prompts",
        nargs="+",
        metavar="BANK",
        help="with --ablate-pieces: banks built without normality-aware construction (the "
        "NA-off row and the all-off baseline)",
    )
    add_detector_options(ev)
    add_engine_options(ev)
    ev.set_defaults(func=cmd_eval)

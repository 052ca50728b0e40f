"""Command line: ``vad score``, ``eval``, ``watch``, ``calibrate``, ``search``, ``prompts``,
``models``. It parses options, builds the detector and chooses the engine (:mod:`vad.engine`,
:mod:`vad.engine_ray`), then hands over to the runners (:mod:`vad.score_run`,
:mod:`vad.evaluation_run`, :mod:`vad.search`); nothing imports it.

Exit status: 0 when every input was scored, 1 when any input failed (each named once on
stderr), 2 for usage errors (bad option, bad config or prompt bank, missing weights).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from vad import __version__, console
from vad.console import one_line
from vad.errors import UsageError
from vad.naming import collect_inputs, output_stems
from vad.runtime import PRECISIONS, RUNTIMES, encoder_facts

log = logging.getLogger("vad")

SUGGESTED_MODELS = [
    ("ViT-B-16", "openai", "default: the literature's zero-shot CLIP baseline"),
    ("ViT-B-32-256", "datacomp_s34b_b86k", "fast"),
    ("ViT-B-32", "openai", "fastest"),
    ("ViT-L-14", "dfn2b", "accurate (GPU)"),
    ("ViT-L-14-quickgelu", "dfn2b", "accurate, QuickGELU config"),
    ("ViT-H-14-quickgelu", "dfn5b", "most accurate (GPU)"),
    ("PE-Core-L-14-336", "meta", "accurate preset: best published VAD evidence (GPU)"),
    ("ViT-L-16-SigLIP2-384", "webli", "SigLIP 2 (GPU; tokenizer from the HF hub)"),
    ("MobileCLIP2-S4", "dfndr2b", "MobileCLIP 2"),
]


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that cleanup runs as for Ctrl-C."""


# flag -> setting checked by vad.config's rule table (the one place numbers are validated)
CHECKED_FLAGS = {
    "--model": "model",
    "--context": "context",
    "--prompts": "prompts",
    "--context-window": "context_window_s",
    "--sample-fps": "sample_fps",
    "--batch-size": "batch_size",
    "--device": "device",
    "--window": "window_s",
    "--event-threshold": "event_threshold",
    "--decode-timeout": "decode_timeout_s",
    "--workers": "workers",
    "--num-gpus-per-worker": "num_gpus_per_worker",
    "--limit": "limit",
    "--ablate-windows": "ablate_windows",
    "--ablate-contexts": "context",
}
DESTS = {"--ablate-windows": "ablate_windows", "--ablate-contexts": "ablate_contexts"}


def check_flags(args: argparse.Namespace) -> None:
    """Every numeric and text flag given, checked by :func:`vad.config.check_value` (NaN,
    infinities, out of range, empty text): :class:`UsageError` naming the flag."""
    from vad.config import check_value

    for flag, key in CHECKED_FLAGS.items():
        value = getattr(args, DESTS.get(flag, key), None)
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            try:
                check_value(key, item)
            except ValueError as exc:
                raise UsageError(f"{flag}: {exc}") from None


def preset_defaults() -> dict:
    """The shipped ``default`` preset, for --help (what a flag left out means)."""
    try:
        from vad.config import load_config

        return load_config("default")
    except Exception:  # noqa: BLE001 - --help must answer even from a broken install
        return {}


SCORING_ONLY = {"--context", "--context-window", "--prompts", "--smoothing", "--window",
                "--event-threshold"}  # fmt: skip


def add_detector_options(p: argparse.ArgumentParser, encoding_only: bool = False) -> None:
    """Model, context and sampling options shared by ``score`` and ``eval``; with
    ``encoding_only``, those that shape the frame embeddings (``vad search``)."""
    d = preset_defaults()

    def default(key: str, fallback: str = "") -> str:
        value = d.get(key, fallback)
        return f" (default: {value})" if value not in ("", None) else ""

    g = p.add_argument_group(
        "detector (override the --config preset; defaults shown are the 'default' preset's)"
    )

    def add(flag: str, *more: str, **kw) -> None:
        if not (encoding_only and flag in SCORING_ONLY):
            g.add_argument(flag, *more, **kw)

    add(
        "--config",
        default="default",
        help="run preset: YAML file or shipped name (default: %(default)s)",
    )
    add(
        "--model",
        help="OpenCLIP model, local-dir:PATH or hf-hub:ORG/REPO" + default("model"),
    )
    add(
        "--pretrained",
        help="weights: open_clip tag, checkpoint file, or none" + default("pretrained"),
    )
    add(
        "--context",
        help="auto | none | free text naming the scene" + default("context", "auto"),
    )
    add(
        "--context-window",
        type=float,
        dest="context_window_s",
        metavar="SECONDS",
        help="infer the context per sliding window of this length (default: video)",
    )
    add(
        "--prompts",
        help="prompt bank: YAML file or shipped name" + default("prompts", "default"),
    )
    add(
        "--sample-fps",
        type=float,
        help="frames per second to encode, by timestamp" + default("sample_fps", "2.0"),
    )
    add(
        "--batch-size",
        type=int,
        help="frames per encoder batch" + default("batch_size", "32"),
    )
    add(
        "--device",
        metavar="{auto,cpu,cuda,cuda:N}",
        help="where the model runs (cuda:N: the N-th GPU)" + default("device", "auto"),
    )
    add(
        "--runtime",
        choices=list(RUNTIMES),
        help="what runs the model: auto = OpenVINO on a CPU, torch on a GPU"
        + default("runtime", "auto"),
    )
    add(
        "--precision",
        choices=list(PRECISIONS),
        help="auto = bf16 where the CPU does it natively (OpenVINO), fp16 on a GPU, else fp32; "
        "int8: OpenVINO only, experimental" + default("precision", "auto"),
    )
    add(
        "--smoothing",
        choices=["gaussian", "mean", "median", "none"],
        help="temporal smoothing" + default("smoothing", "gaussian"),
    )
    add(
        "--window",
        type=float,
        dest="window_s",
        metavar="SECONDS",
        help="smoothing window in seconds (Gaussian sigma; 0: none)" + default("window_s", "2.0"),
    )
    add(
        "--event-threshold",
        type=float,
        help="score in [0, 1] at which a span is an event" + default("event_threshold", "0.5"),
    )
    add(
        "--backend",
        choices=["auto", "pyav", "opencv", "decord"],
        help="video decoder (auto: PyAV, then OpenCV, then decord)" + default("backend", "auto"),
    )
    add(
        "--decode-timeout",
        type=float,
        dest="decode_timeout_s",
        metavar="SECONDS",
        help="give up on a video whose decoding makes no progress for this long (default: 60)",
    )
    add("--cache-dir", help="embedding cache folder (default: user cache dir)")
    add(
        "--no-cache",
        action="store_true",
        help="neither read nor write the videos' cached embeddings (model exports and prompt-bank "
        "embeddings are kept and reused)",
    )
    if not encoding_only:
        add_scoring_options(p)


def add_scoring_options(p: argparse.ArgumentParser) -> None:
    """The scoring recipe (docs/quality.md); ``--head softmax --no-anchor --refine none`` is
    the original one, ``--config nova`` NOVA's."""
    from vad.heads import ANCHORS, HEADS, MOTION_GATES, REFINES

    d = preset_defaults()

    def default(key: str) -> str:
        value = d.get(key)
        if isinstance(value, bool):  # a preset written with true/false
            from vad.heads import anchor_mode, motion_gate_mode

            value = anchor_mode(value) if key == "anchor" else motion_gate_mode(value)
        return f" (default: {value})" if value not in ("", None) else ""

    g = p.add_argument_group("scoring (docs/quality.md)")
    g.add_argument("--head", choices=HEADS, help="scoring head" + default("head"))
    g.add_argument(
        "--anchor",
        nargs="?",
        const="nova",
        choices=ANCHORS,
        metavar="{" + ",".join(ANCHORS) + "}",
        help="normal anchor joining the normal side: nova (NOVA's, from the first 32 samples; "
        "the flag alone), mean (the video's trimmed mean) or none" + default("anchor"),
    )
    g.add_argument(
        "--no-anchor", dest="anchor", action="store_const", const="none", help="--anchor none"
    )
    g.add_argument("--refine", choices=REFINES, help="in-video kNN refinement" + default("refine"))
    g.add_argument(
        "--motion-gate",
        nargs="?",
        const="nova",
        choices=MOTION_GATES,
        metavar="{" + ",".join(MOTION_GATES) + "}",
        help="NOVA's motion gate: scores times sigmoid(20 (m - 0.02)), m restated for the "
        "sampling rate (nova; the flag alone) or as is (unscaled)" + default("motion_gate"),
    )
    g.add_argument(
        "--no-motion-gate",
        dest="motion_gate",
        action="store_const",
        const="off",
        help="--motion-gate off",
    )


DETECTOR_KEYS = tuple(
    "model pretrained context context_window_s prompts sample_fps batch_size device precision "
    "runtime smoothing window_s event_threshold backend decode_timeout_s head anchor refine "
    "motion_gate".split()
)


def detector_settings(args: argparse.Namespace) -> dict:
    """The preset, overridden by every flag the user gave."""
    from vad.config import load_config

    settings = load_config(args.config)
    for key in DETECTOR_KEYS:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    if args.cache_dir:
        settings["cache_dir"] = args.cache_dir
    settings["use_cache"] = not args.no_cache
    return settings


def driver_settings(args: argparse.Namespace, settings: dict) -> dict:
    """The settings of the model this process loads. With ``--engine ray`` it only encodes
    texts (prompt banks, a free-text context; the actors encode the frames on their own
    device), so it runs on this machine's CPU in fp32: a head node without a GPU can run
    ``--device cuda``, and no GPU that Ray gives an actor holds an extra model: for GPU actors
    torch in fp32, for CPU actors their own runtime and precision (the bank encoded as they
    would encode it). (Its text embeddings are what the Ray engine's driver scores with,
    docs/ray.md.)"""
    if args.engine != "ray":
        return settings
    if str(settings.get("device") or "auto").startswith("cuda"):
        return {**settings, "device": "cpu", "precision": "fp32", "runtime": "torch"}
    return {**settings, "device": "cpu"}


def build_detector(settings: dict):
    from vad.pipeline import Detector

    return Detector(**settings)


def load_encoder_or_exit(detector) -> None:
    """Load the model up front so a weights problem is one usage error, not N failures."""
    detector.encoder  # noqa: B018 - property loads the model


def cmd_score(args: argparse.Namespace) -> int:
    from vad.console import stdout_closed
    from vad.outputs import check_out_dir, is_complete
    from vad.score_run import score_to_files

    settings = detector_settings(args)
    if args.start_time is not None:
        settings["start_time"] = check_start_time(args.start_time)
    check_engine_options(args)
    # the inputs first: a missing file is reported before anything heavy is imported or loaded
    problems: list[str] = []  # paths that cannot be looked at: one error line each, not fatal
    inputs = collect_inputs(args.paths, args.list, problems)
    if args.start_time is not None and len(inputs) + len(problems) > 1:
        raise UsageError(
            f"--start-time: gives one video's start, but {len(inputs) + len(problems)} inputs "
            "were given (score them one at a time)"
        )
    for problem in problems:
        print(one_line(f"vad: error: {problem}"), file=sys.stderr)
    if not inputs:
        if problems:
            print(f"vad: {len(problems)} of {len(problems)} inputs failed", file=sys.stderr)
            return 1
        raise UsageError("no input videos (give files, folders or --list FILE)")
    unusable = unusable_inputs(inputs)
    if len(unusable) == len(inputs):  # nothing to score: say so without loading a model
        for error in unusable:
            print(one_line(f"vad: error: {error}"), file=sys.stderr)
        total = len(inputs) + len(problems)
        print(f"vad: {total} of {total} inputs failed", file=sys.stderr)
        return 1
    detector = build_detector(settings)
    out_dir = Path(args.out)
    stems = output_stems(inputs)
    todo = [(p, s) for p, s in zip(inputs, stems, strict=True)]
    if args.resume:
        skipped = [p for p, s in todo if is_complete(out_dir, s)]
        todo = [(p, s) for p, s in todo if not is_complete(out_dir, s)]
        if skipped:
            print(f"vad: resume: {len(skipped)} already scored, {len(todo)} to do", file=sys.stderr)
    if not todo:
        # all scored before: the review page may still be wanted
        return review_score_outputs(args, [], inputs, stems, out_dir, detector, int(bool(problems)))
    # a bad --out is a usage error now, but the folder is made with the first result: a run
    # that fails before scoring anything leaves no empty folder behind
    check_out_dir(out_dir)
    if args.engine == "ray" and args.calibration:
        raise UsageError("--calibration: only with --engine local")
    calibration = apply_calibration_option(args, detector)
    engine = build_engine(args, settings, detector)
    if calibration is not None:  # results record the calibration used
        from vad.calibration import RecordingCalibration

        engine = RecordingCalibration(engine, calibration)
    try:
        errors = score_to_files(engine, [p for p, _ in todo], [s for _, s in todo], out_dir)
    finally:
        engine.close()
    failed = sum(error is not None for error in errors) + len(problems)
    if failed:
        print(f"vad: {failed} of {len(todo) + len(problems)} inputs failed", file=sys.stderr)
    if stdout_closed():
        print(
            f"vad: stdout was closed; scoring went on and the results are in {out_dir}",
            file=sys.stderr,
        )
    status = 1 if failed else 0
    return review_score_outputs(args, todo, inputs, stems, out_dir, detector, status)


def unusable_inputs(inputs: list[Path]) -> list[str]:
    """The one-line errors of inputs that fail before decoding (missing, empty, a folder,
    unreadable), as the engines would report them."""
    from vad.video import VideoError, check_input_file

    errors = []
    for path in inputs:
        try:
            check_input_file(Path(path))
        except VideoError as exc:
            errors.append(str(exc))
    return errors


def check_start_time(text: str) -> str:
    """``--start-time``: an ISO-8601 date and time, else a usage error naming the flag."""
    from vad.clock import ClockStart

    try:
        ClockStart.parse(text)
    except ValueError as exc:
        raise UsageError(f"--start-time: {exc}") from None
    return text


def review_score_outputs(args, todo, inputs, stems, out_dir: Path, detector, status: int) -> int:
    """``--plot``, ``--overlay`` for the videos scored now, ``--html`` for all of the run's
    (with ``--resume``, those scored before too), from the written results (any engine)."""
    if not (args.plot or args.overlay or args.html):
        return status
    from vad.visualize import review_outputs

    errors = review_outputs(
        todo,
        out_dir,
        args.plot,
        args.overlay,
        args.html,
        threshold=detector.event_threshold,
        index_items=list(zip(inputs, stems, strict=True)),
    )
    for error in errors:
        print(one_line(f"vad: error: {error}"), file=sys.stderr)
    if args.html and (out_dir / "index.html").is_file():
        log.info("wrote %s", out_dir / "index.html")
    return 1 if errors else status


def add_review_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("results to look at")
    g.add_argument("--plot", action="store_true", help="<stem>.png: score timeline with events")
    g.add_argument(
        "--overlay", action="store_true", help="<stem>.overlay.mp4: score bar drawn on the video"
    )
    g.add_argument("--html", action="store_true", help="OUT/index.html: review page for the run")


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """``--engine`` and the Ray engine's options (``vad score``, ``vad eval``)."""
    g = p.add_argument_group("engine (docs/ray.md)")
    g.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: this process (default); ray: a Ray cluster (pip install 'vad[ray]')",
    )
    g.add_argument("--ray-address", metavar="ADDR", help="Ray cluster: auto, HOST:PORT, ray://...")
    g.add_argument("--workers", type=int, metavar="N", help="Ray: model actors (default: auto)")
    g.add_argument(
        "--num-gpus-per-worker",
        type=float,
        metavar="G",
        help="Ray: GPUs per model actor (default: 1 if the cluster has GPUs, else 0)",
    )
    g.add_argument(
        "--segment-s",
        type=float,
        metavar="SECONDS",
        help="Ray: unit of work, at most this much of a video (default: 60)",
    )


def check_engine_options(args: argparse.Namespace) -> None:
    if args.engine != "ray":
        given = [
            flag
            for flag, key in (
                ("--ray-address", "ray_address"),
                ("--workers", "workers"),
                ("--num-gpus-per-worker", "num_gpus_per_worker"),
                ("--segment-s", "segment_s"),
            )
            if getattr(args, key, None) is not None
        ]
        if given:
            raise UsageError(f"{', '.join(given)}: only with --engine ray")


def build_engine(args: argparse.Namespace, settings: dict, detector, encoder=None):
    """The engine ``--engine`` names: the local one around ``detector``, or Ray with the
    same settings (``encoder``: a model already loaded here, to validate them with)."""
    if args.engine == "ray":
        from vad.engine_ray import RayEngine

        return RayEngine(
            settings,
            address=args.ray_address,
            workers=args.workers,
            gpus_per_worker=args.num_gpus_per_worker,
            ray_progress=args.verbose,
            encoder=encoder,
            **({} if args.segment_s is None else {"segment_s": args.segment_s}),
        )
    from vad.engine import LocalEngine

    return LocalEngine(detector)


def cmd_eval(args: argparse.Namespace) -> int:
    """``vad eval``: score a labelled test set; metrics.json, scores/, report.html."""
    import json

    from vad.datasets import AnnotationWarnings, get_protocol, limit_balanced, load_annotations
    from vad.evaluate import format_table
    from vad.evaluation_run import (
        Evaluator,
        ablation_grid,
        ablation_markdown,
        ablation_summary,
        ablation_summary_markdown,
        default_ablation_grid,
        metrics_document,
        past_end_lines,
        pieces_grid,
        run_ablation,
    )
    from vad.outputs import atomic_write_text
    from vad.prompts import PromptBank

    settings = detector_settings(args)
    check_engine_options(args)
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
    detector = build_detector(driver_settings(args, settings))
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
    ablate = args.ablate or args.ablate_pieces or any(axes)
    grid = []
    if args.ablate_pieces:
        grid = pieces_grid(
            detector,
            args.ablate_prompts or [str(detector.prompts)],
            args.ablate_previous_prompts or [],
        )
    elif ablate:
        default = default_ablation_grid(detector, args.dataset)
        grid = default
        if any(axes):
            grid = ablation_grid(
                args.ablate_contexts or list(dict.fromkeys(c.context for c in default)),
                args.ablate_windows or list(dict.fromkeys(c.window_s for c in default)),
                args.ablate_prompts or list(dict.fromkeys(c.prompts for c in default)),
                args.ablate_heads or [detector.head],
                [_on_off(a, "nova", "none") for a in args.ablate_anchors or []]
                or [detector.anchor],
                args.ablate_refines or [detector.refine],
                [_on_off(g, "nova", "off") for g in args.ablate_motion_gates or []]
                or [detector.motion_gate],
            )
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
    effective = {k: getattr(detector, k) for k in DETECTOR_KEYS}
    effective.update({k: settings.get(k, "auto") for k in ("device", "precision")})  # the actors'
    # the weights really used (a local-dir: folder, a checkpoint file), as `vad score` records
    effective["pretrained"] = getattr(detector.encoder, "pretrained_label", detector.pretrained)
    effective.update(encoder_facts(detector.encoder))  # what ran: runtime, precision
    about = {
        "dataset": args.dataset,
        "annotations": str(args.annotations),
        "videos_dir": str(args.videos),
        "settings": {**effective, "prompts": detector.bank.name, "use_cache": detector.use_cache},
        "test_list": None if args.test_list is None else str(args.test_list),
        "annotation_warnings": warnings.lines,
    }
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
    rows = None
    if ablate:
        rows = run_ablation(detector, run, grid)
        title = f"Ablation: {args.dataset}, {len(run.scored)} videos, {detector.model}"
        table = ablation_markdown(rows, title)
        if args.ablate_pieces:
            summary = ablation_summary(rows)
            title = f"One piece off: {args.dataset}, {len(run.scored)} videos, {detector.model}"
            summary_table = ablation_summary_markdown(summary, title)
            atomic_write_text(out_dir / "ablation_summary.md", summary_table)
            text = json.dumps(summary, indent=1) + "\n"
            atomic_write_text(out_dir / "ablation_summary.json", text)
            table = summary_table + "\n" + table
        atomic_write_text(out_dir / "ablation.md", table)
        atomic_write_text(out_dir / "ablation.json", json.dumps(rows, indent=1) + "\n")
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


def _on_off(value: str, on: str, off: str) -> str:
    """``on``/``off`` in an ablation axis stand for a mode (anchor: nova/none)."""
    return {"on": on, "off": off}.get(value, value)


def write_eval_report(
    run, metrics: dict, out_dir: Path, ablation=None, single_file: bool = False
) -> Path:
    from vad.report import Report, ReportVideo

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
    from vad.datasets import DATASETS, PROTOCOLS
    from vad.datasets.protocol import MASK_PADS

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
    from vad.heads import ANCHORS, HEADS, MOTION_GATES, REFINES

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


def add_watch_parser(sub) -> None:
    w = sub.add_parser(
        "watch",
        help="score live streams (rtsp/http/udp/webcam/file) as frames arrive; JSONL and alerts",
        description="Score live sources as they arrive, with one shared model. Writes JSON "
        "Lines (sample, event, health, status and summary records; README, Watching cameras) "
        "and sends event and camera-health alerts. Runs until --duration, SIGINT/SIGTERM, or "
        "every file source ends. "
        "Exit status 1 when no frame could be scored.",
    )
    w.add_argument("sources", nargs="+", metavar="SOURCE", help="URL, /dev/videoN, index or file")
    w.add_argument("--jsonl", default="-", metavar="FILE", help="JSON Lines output (- = stdout)")
    w.add_argument("--on-event", metavar="CMD", help="shell command run with each event on stdin")
    w.add_argument("--webhook", metavar="URL", help="POST each event as JSON (retried)")
    w.add_argument("--min-event-s", type=float, default=1.0, help="seconds above before an event")
    w.add_argument("--cooldown-s", type=float, default=5.0, help="seconds below before it closes")
    w.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    w.add_argument("--realtime", action="store_true", help="pace files at their frame rate")
    w.add_argument("--loop", action="store_true", help="replay file sources when they end")
    w.add_argument(
        "--health-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="a live source without a frame for S seconds is reported offline (default: 10)",
    )
    w.add_argument(
        "--picture-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="a picture black, covered or frozen for S seconds is reported (default: 30)",
    )
    add_calibration_options(w)
    add_detector_options(w)
    for action in w._actions:  # the same flag, watch's meaning
        if action.dest == "context_window_s":
            action.help = "infer the context over the last SECONDS of each source (default 60)"
    w.set_defaults(func=cmd_watch)


def add_calibration_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("calibration (vad calibrate)")
    g.add_argument("--calibration", metavar="JSON", help="a camera calibration from vad calibrate")
    g.add_argument(
        "--false-alarms-per-hour",
        type=float,
        default=1.0,
        metavar="N",
        help="with --calibration: target rate of events on normal footage (default: 1)",
    )


def apply_calibration_option(args: argparse.Namespace, detector):
    """``--calibration``: load it and set the detector's threshold and novelty term."""
    if not getattr(args, "calibration", None):
        return None
    from vad.calibration import CalibrationError, apply_calibration, load_calibration

    try:
        calibration = load_calibration(args.calibration)
        return apply_calibration(
            detector, calibration, args.false_alarms_per_hour, context_given=bool(args.context)
        )
    except CalibrationError as exc:
        raise UsageError(str(exc)) from exc


def cmd_watch(args: argparse.Namespace) -> int:
    from vad.alerts import AlertSink
    from vad.watch import Watcher, WatchOptions, format_summary

    settings = detector_settings(args)
    # here --context-window is the rolling window the context is inferred over (default 60 s)
    window = settings.pop("context_window_s", None) or 60.0
    settings["context_window_s"] = None
    settings["isolate_decoding"] = False  # watch decodes in its own reader threads
    options = WatchOptions(
        sample_fps=float(settings.get("sample_fps", 2.0)),
        context_window_s=float(window),
        min_event_s=args.min_event_s,
        cooldown_s=args.cooldown_s,
        duration_s=args.duration,
        realtime=args.realtime,
        loop=args.loop,
        health_timeout_s=args.health_timeout,
        picture_timeout_s=args.picture_timeout,
    )
    options.check()  # before anything is opened or loaded
    detector = build_detector(settings)
    calibration = apply_calibration_option(args, detector)
    sink = AlertSink(args.jsonl, args.on_event, args.webhook)
    stop = threading.Event()
    previous = {}
    try:
        watcher = Watcher(detector, args.sources, sink, options)
        if calibration is not None:
            watcher.info["calibration"] = calibration
        load_encoder_or_exit(detector)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):  # end the loop; flush what was written
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
        summary = watcher.run(stop)
    finally:
        sink.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"vad: {format_summary(summary)}", file=sys.stderr)
    return 0 if summary["samples"] else 1  # nothing scored: the sources' problems are above


def cmd_calibrate(args: argparse.Namespace) -> int:
    from vad.calibration import CalibrationError, calibrate, save_calibration
    from vad.video import VideoError

    settings = detector_settings(args)
    inputs = collect_inputs(args.paths, None)
    if not inputs:
        raise UsageError("no normal videos to calibrate on (give files or folders)")
    detector = build_detector(settings)
    load_encoder_or_exit(detector)
    try:
        calibration = calibrate(detector, inputs, memory_size=args.memory_size)
        json_path = save_calibration(calibration, args.out)
    except CalibrationError as exc:
        raise UsageError(str(exc)) from exc
    except VideoError as exc:  # every video must be usable: the calibration is all of them
        print(f"vad: error: {exc}; nothing written", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"vad: error: {args.out}: cannot write ({exc.strerror or exc})", file=sys.stderr)
        return 1
    finally:
        detector.close()
    print(calibration.describe())
    print(f"wrote {json_path} and {json_path.with_suffix('.npz')}")
    return 0


def add_calibrate_parser(sub) -> None:
    c = sub.add_parser(
        "calibrate",
        help="learn one camera's normal: score distribution, scene, normality memory",
        description="Score footage known to be normal for one camera and store its score "
        "distribution, scene context and a bounded memory of its frame embeddings "
        "(OUT.json + OUT.npz). Use it with --calibration on score and watch.",
    )
    c.add_argument("paths", nargs="+", metavar="NORMAL_VIDEO_OR_DIR", help="normal footage")
    c.add_argument("--out", required=True, metavar="JSON", help="calibration file to write")
    c.add_argument(
        "--memory-size", type=int, default=2048, metavar="N", help="frames kept (default 2048)"
    )
    add_detector_options(c)
    c.set_defaults(func=cmd_calibrate)


def cmd_search(args: argparse.Namespace) -> int:
    """``vad search QUERY PATH...``: ranked moments of the footage most like a text or image."""
    import json

    from vad.search import search

    if args.top < 1:
        raise UsageError(f"--top must be at least 1, got {args.top}")
    settings = detector_settings(args)
    problems: list[str] = []
    inputs = collect_inputs(args.paths, args.list, problems)
    for problem in problems:
        print(one_line(f"vad: error: {problem}"), file=sys.stderr)
    if not inputs:
        if problems:
            return 1
        raise UsageError("no videos to search (give files, folders or --list FILE)")
    detector = build_detector(settings)
    load_encoder_or_exit(detector)
    try:
        found = search(
            detector,
            args.query,
            inputs,
            top=args.top,
            min_similarity=args.min_similarity,
            progress=True,
            on_error=lambda e: print(one_line(f"vad: error: {e}"), file=sys.stderr),
        )
    finally:
        detector.close()
    result = found.to_dict()
    if args.html:
        from vad.visualize import write_search_page

        write_search_page(args.html, result)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for line in search_lines(result):
            console.say(line)
    if args.html:
        log.info("wrote %s", args.html)
    return 1 if found.errors or problems else 0


def search_lines(result: dict) -> list[str]:
    """``vad search``'s text output: one line per moment, best first."""
    from vad.console import plural

    lines = [
        f"{plural(len(result['moments']), 'moment')} like {result['query']!r} ({result['kind']}) "
        f"in {plural(result['videos'], 'video')}, {result['hours']:.2f} h of footage"
    ]
    for m in result["moments"]:
        clock = f"  {m['peak_clock']}" if m.get("peak_clock") else ""
        lines.append(
            f"{m['rank']:>3}. {m['similarity']:.3f}  {m['video']}  "
            f"{m['start_s']:.1f}-{m['end_s']:.1f} s (best at {m['peak_s']:.1f} s){clock}"
        )
    return lines


def add_search_parser(sub) -> None:
    s = sub.add_parser(
        "search",
        help="find the moments of footage most like a text or an image (cached embeddings)",
        description='Rank the moments of videos by their similarity to QUERY: a text ("a person '
        'climbing a fence") or an image file. Reads the frame embeddings vad score cached '
        "(same model, --sample-fps and cache); footage not cached yet is encoded first. Exit "
        "status 1 when a video could not be searched.",
    )
    s.add_argument("query", metavar="QUERY", help="text, or the path of an image file")
    s.add_argument("paths", nargs="*", metavar="PATH", help="video files or folders")
    s.add_argument("--list", help="text file with one video path per line")
    s.add_argument("--top", type=int, default=10, metavar="N", help="moments shown (default 10)")
    s.add_argument("--min-similarity", type=float, metavar="COS", help="leave out weaker matches")
    s.add_argument("--json", action="store_true", help="print the moments as JSON")
    s.add_argument(
        "--html", metavar="FILE", help="write a page with the moments' thumbnails to FILE"
    )
    add_detector_options(s, encoding_only=True)
    s.set_defaults(func=cmd_search)


def cmd_prompts(args: argparse.Namespace) -> int:
    from vad.prompts import PromptBank, available_banks

    if args.check:
        return cmd_prompts_check(args)
    if args.list:
        print("\n".join(available_banks()))
        return 0
    print(PromptBank.from_yaml(args.bank).to_text())
    return 0


def cmd_prompts_check(args: argparse.Namespace) -> int:
    """``vad prompts --check BANK``: exit 1 when the lint finds a problem."""
    import json

    from vad.config import load_config
    from vad.promptcheck import check_bank, model_tokenizer, report_text
    from vad.prompts import PromptBank, PromptBankError

    model = args.model or load_config("default").get("model", "ViT-B-16")
    try:
        bank = PromptBank.from_yaml(args.bank)
    except PromptBankError as exc:
        report = {"bank": str(args.bank), "problems": [{"kind": "invalid", "detail": str(exc)}]}
        print(json.dumps(report) if args.json else f"vad: {exc}")
        return 1
    tokenizer, context, note = model_tokenizer(model)
    encode_text = None
    if args.pretrained is not None:  # the encoder checks need real weights
        from vad.encoder import ClipEncoder

        encode_text = ClipEncoder(model, args.pretrained, "auto", "auto").encode_text
    report = check_bank(bank, tokenizer, context, encode_text)
    report["model"] = model
    report["encoder_checks"] = encode_text is not None
    if note:
        report["note"] = note
    print(json.dumps(report, indent=1) if args.json else report_text(report))
    if note and not args.json:
        print(f"note: {note}")
    return 1 if report["problems"] else 0


def cmd_models(args: argparse.Namespace) -> int:
    from huggingface_hub import constants

    from vad.cache import default_cache_dir
    from vad.encoder import _weights_cached

    print(f"{'model':<22} {'pretrained':<22} {'cached':<7} note")
    for model, tag, note in SUGGESTED_MODELS:
        cached = "yes" if _weights_cached(model, tag, None) else "no"
        print(f"{model:<22} {tag:<22} {cached:<7} {note}")
    print(
        "\nAny open_clip model works too: --model NAME --pretrained TAG|FILE, "
        "--model local-dir:PATH or --model hf-hub:ORG/REPO."
        f"\nWeights cache: {constants.HF_HUB_CACHE} (the Hugging Face hub's; $HF_HOME or "
        "$HF_HUB_CACHE move it)."
        f"\nvad's cache (frame and prompt embeddings): {default_cache_dir()} ($VAD_CACHE_DIR or "
        "--cache-dir move it)."
    )
    return 0


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (``vad: error: ...``), as every other one; an
    unknown option is reported by the subcommand it was given to (``see `vad score --help```),
    with the option it most looks like."""

    def error(self, message: str):
        self.exit(2, one_line(f"vad: error: {message} (see `{self.prog} --help`)") + "\n")

    def parse_args(self, args=None, namespace=None):
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = self._subcommand(parsed) or self
            parser.error(f"unrecognized arguments: {' '.join(extras)}{parser._guess(extras)}")
        return parsed

    def _subcommand(self, parsed) -> argparse.ArgumentParser | None:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices.get(getattr(parsed, action.dest, None) or "")
        return None

    def _guess(self, extras: list[str]) -> str:
        """`` (did you mean --x?)`` for the first unknown option close to a known one."""
        import difflib

        known = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
        for word in extras:
            if word.startswith("--"):
                close = difflib.get_close_matches(word.split("=", 1)[0], known, n=1, cutoff=0.6)
                if close:
                    return f" (did you mean {close[0]}?)"
        return ""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="vad", description="Context-aware zero-shot video anomaly detection (OpenCLIP)."
    )
    parser.add_argument("--version", action="version", version=f"vad {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    score = sub.add_parser("score", help="score videos: one anomaly score per decoded frame")
    score.add_argument("paths", nargs="*", help="video files or folders (searched recursively)")
    score.add_argument("--list", help="text file with one video path per line")
    score.add_argument("--out", default="vad-out", help="output folder (default: vad-out)")
    score.add_argument("--resume", action="store_true", help="skip inputs already scored")
    score.add_argument(
        "--start-time",
        metavar="ISO-8601",
        help="wall-clock time of the video's first frame, e.g. 2026-12-02T10:00:00+01:00 (no "
        "zone: local time); default: the container's creation time or timecode, when present",
    )
    add_detector_options(score)
    add_engine_options(score)
    add_review_options(score)
    add_calibration_options(score)
    score.set_defaults(func=cmd_score)
    add_eval_parser(sub)
    add_watch_parser(sub)
    add_calibrate_parser(sub)
    add_search_parser(sub)

    prompts = sub.add_parser("prompts", help="print a prompt bank")
    prompts.add_argument("bank", nargs="?", default="default", help="YAML file or shipped name")
    prompts.add_argument("--list", action="store_true", help="list the shipped banks")
    prompts.add_argument(
        "--check", action="store_true", help="lint the bank; exit 1 when a problem is found"
    )
    prompts.add_argument("--model", help="--check: count tokens with this model's tokenizer")
    prompts.add_argument(
        "--pretrained", help="--check: also load these weights for the embedding checks"
    )
    prompts.add_argument("--json", action="store_true", help="--check: print JSON")
    prompts.set_defaults(func=cmd_prompts)

    models = sub.add_parser("models", help="suggested models and whether weights are cached")
    models.set_defaults(func=cmd_models)
    return parser


def setup_logging(verbose: bool) -> None:
    """vad's own messages as ``vad: ...`` lines on stderr; other libraries only on errors
    (or everything with --verbose)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("vad: %(message)s"))
    vad_log = logging.getLogger("vad")
    vad_log.handlers[:] = [handler]
    vad_log.setLevel(logging.DEBUG if verbose else logging.INFO)
    vad_log.propagate = False
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR)


def install_signal_handlers():
    """SIGTERM unwinds like Ctrl-C (temporary files removed, the decode worker stopped), from
    the first moment of ``main``: a signal while torch is still importing is an exit 130/143
    too, not a traceback. Returns a function that puts the previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_terminated),
        # Python's own Ctrl-C handler, unless the shell made this process ignore it (`nohup`)
        signal.SIGINT: signal.getsignal(signal.SIGINT),
    }
    if previous[signal.SIGINT] is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def restore() -> None:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)

    return restore


def usage_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix (exit status 2). Looked up among the modules already
    imported, so that `vad --help` imports nothing more to name one."""
    from vad.errors import WeightsUnavailable

    classes: list[type[BaseException]] = [UsageError, ValueError, WeightsUnavailable]
    for module, name in (
        ("vad.config", "ConfigError"),
        ("vad.prompts", "PromptBankError"),
    ):
        if module in sys.modules:
            classes.append(getattr(sys.modules[module], name))
    return tuple(classes)


def main(argv: list[str] | None = None) -> int:
    restore = install_signal_handlers()  # first, before anything slow
    console.reset()  # each run has its own stdout state (main may run twice in one process)
    try:
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            setup_logging(args.verbose)
            check_flags(args)
            return args.func(args)
        except Exception as exc:
            if not isinstance(exc, usage_errors()) or isinstance(exc, BrokenPipeError):
                raise
            # an error that also advises the Python API says it in flags here
            print(one_line(f"vad: error: {getattr(exc, 'cli_message', None) or exc}"),
                  file=sys.stderr)  # fmt: skip
            return 2
    except KeyboardInterrupt as exc:
        how = "terminated" if isinstance(exc, Terminated) else "interrupted"
        try:
            print(
                f"vad: {how}; finished outputs are complete, nothing partial was left",
                file=sys.stderr,
            )
        except (OSError, ValueError):
            pass
        return 143 if isinstance(exc, Terminated) else 130
    except BrokenPipeError:  # stdout closed while printing a command's output: not a failure
        _silence_stdout()
        return 0
    finally:
        restore()


def _silence_stdout() -> None:
    from vad.console import _silence_stdout as silence

    silence()


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


if __name__ == "__main__":
    sys.exit(main())

"""``vad score PATH...``: the inputs checked before anything heavy is loaded, then an engine
scores them into ``<stem>.json``/``<stem>.csv`` (:func:`vad.outputs.runner.score_to_files`),
then the review outputs (``--plot``, ``--overlay``, ``--html``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vad.cli.build import apply_calibration_option, build_detector, build_engine, detector_settings
from vad.cli.options import (
    add_calibration_options,
    add_detector_options,
    add_engine_options,
    add_review_options,
    check_engine_options,
)
from vad.console import one_line
from vad.errors import UsageError
from vad.outputs.naming import collect_inputs, output_stems

log = logging.getLogger("vad")


def add_score_parser(sub) -> None:
    """``vad score PATH...``: its options and handler."""
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


def cmd_score(args: argparse.Namespace) -> int:
    from vad.console import stdout_closed
    from vad.outputs.results import check_out_dir, is_complete
    from vad.outputs.runner import score_to_files

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
        from vad.scoring.calibration import RecordingCalibration

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
    from vad.media.files import check_input_file
    from vad.media.frames import VideoError

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
    from vad.outputs.visualize import review_outputs

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

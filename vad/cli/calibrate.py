"""``vad calibrate NORMAL_VIDEO...``: learn one camera's normal
(:func:`vad.scoring.calibration.calibrate`) and write it as OUT.json + OUT.npz."""

from __future__ import annotations

import argparse
import sys

from vad.cli.build import build_detector, detector_settings, load_encoder_or_exit
from vad.cli.options import add_detector_options
from vad.errors import UsageError
from vad.outputs.naming import collect_inputs


def cmd_calibrate(args: argparse.Namespace) -> int:
    from vad.media.frames import VideoError
    from vad.scoring.calibration import CalibrationError, calibrate, save_calibration

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

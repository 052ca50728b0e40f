"""``vad watch SOURCE...``: score live streams as frames arrive
(:class:`~vad.live.watch.Watcher`), JSON Lines and alerts out, until a signal, ``--duration``
or the end of every file source."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from vad.cli.build import (
    apply_calibration_option,
    build_detector,
    detector_settings,
    load_encoder_or_exit,
)
from vad.cli.options import add_calibration_options, add_detector_options


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


def cmd_watch(args: argparse.Namespace) -> int:
    from vad.live.alerts import AlertSink
    from vad.live.watch import Watcher, WatchOptions, format_summary

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

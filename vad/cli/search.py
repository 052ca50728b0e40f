"""``vad search QUERY PATH...``: the moments of footage most like a text or an image
(:func:`vad.scoring.search.search`), as lines, JSON or an HTML page."""

from __future__ import annotations

import argparse
import logging
import sys

from vad import console
from vad.cli.build import build_detector, detector_settings, load_encoder_or_exit
from vad.cli.options import add_detector_options
from vad.console import one_line
from vad.errors import UsageError
from vad.outputs.naming import collect_inputs

log = logging.getLogger("vad")


def cmd_search(args: argparse.Namespace) -> int:
    """``vad search QUERY PATH...``: ranked moments of the footage most like a text or image."""
    import json

    from vad.scoring.search import search

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
        from vad.outputs.page import write_search_page

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

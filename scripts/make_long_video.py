"""Write long test videos in the same format as a source clip, for the memory benchmark.

    python scripts/make_long_video.py ../shared/videos/vtest.avi --minutes 1 30
    # -> /tmp/vad-long/vtest_1min.avi, /tmp/vad-long/vtest_30min.avi

The source's frames are played forwards then backwards, over and over (no jump cut), and
written with the source's codec (FourCC), frame size and frame rate, so a 1-minute and a
30-minute video differ only in length. The files are large (about 1 MB per 10 s of vtest):
write them to /tmp, never into the repository.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np


def read_frames(path: Path) -> tuple[list[np.ndarray], float, str]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        sys.exit(f"{path}: cannot open it")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 25.0)
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("ascii", "replace")
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        sys.exit(f"{path}: no frames decode")
    return frames, fps, fourcc


def write_video(out: Path, frames: list[np.ndarray], fps: float, fourcc: str, count: int) -> str:
    """Write ``count`` frames cycling through ``frames`` forwards and backwards; returns the
    FourCC used (the source's, or MJPG when this OpenCV cannot encode that codec)."""
    h, w = frames[0].shape[:2]
    cycle = frames + frames[-2:0:-1] if len(frames) > 2 else frames
    for code in (fourcc, "FMP4", "MJPG"):
        writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*code), fps, (w, h))
        if writer.isOpened():
            break
    else:
        sys.exit(f"{out}: OpenCV cannot write {fourcc}, FMP4 or MJPG")
    try:
        for i in range(count):
            writer.write(cycle[i % len(cycle)])
    finally:
        writer.release()
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the clip whose frames and format to reuse")
    parser.add_argument(
        "--minutes", type=float, nargs="+", default=[1.0, 30.0], help="lengths to write"
    )
    parser.add_argument("--out-dir", type=Path, default=Path("/tmp/vad-long"))
    parser.add_argument("--force", action="store_true", help="rewrite files that exist")
    args = parser.parse_args(argv)
    frames, fps, fourcc = read_frames(args.source)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for minutes in args.minutes:
        label = f"{minutes:g}min"
        out = args.out_dir / f"{args.source.stem}_{label}{args.source.suffix}"
        count = round(minutes * 60 * fps)
        if out.is_file() and not args.force:
            print(f"{out}: exists (use --force to rewrite)")
            continue
        used = write_video(out, frames, fps, fourcc, count)
        size = out.stat().st_size / 1e6
        print(f"{out}: {count} frames, {fps:g} fps, {used}, {size:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

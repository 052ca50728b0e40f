"""Writing results: ``<stem>.json`` (the full result) and ``<stem>.csv`` (``frame,time_s,score``,
plus ``clock`` when the wall-clock time is known),
each written atomically - a temporary file in the same folder, then a rename - so a reader
never sees half a file and an interrupted run leaves none behind."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from vad.files import atomic_write_text


def result_csv(result: dict) -> str:
    """``frame,time_s,score``, one row per decoded frame, and ``clock`` (ISO-8601 wall-clock
    time) as a last column when the result knows its clock (:mod:`vad.clock`)."""
    from vad.clock import ClockStart

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    clock = ClockStart.from_summary(result.get("clock"))
    writer.writerow(["frame", "time_s", "score", *(["clock"] if clock else [])])
    fps = result["fps"]
    times = result.get("frame_times")  # a variable frame rate's presentation timestamps
    for i, s in enumerate(result["scores"]):
        t = times[i] if times is not None else i / fps
        row = [i, f"{t:.6f}", repr(float(s))]
        writer.writerow(row + [clock.iso(t)] if clock else row)
    return buf.getvalue()


def output_paths(out_dir: Path, stem: str) -> tuple[Path, Path]:
    return Path(out_dir) / f"{stem}.json", Path(out_dir) / f"{stem}.csv"


def write_result(result: dict, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` then ``<stem>.json``; the JSON lands last, so its presence means the
    output is complete (what ``--resume`` checks). Interrupted between the two (Ctrl-C, a full
    disk), it removes the CSV again: a video has both files or neither."""
    json_path, csv_path = output_paths(out_dir, stem)
    text = json.dumps(result, indent=1) + "\n"
    atomic_write_text(csv_path, result_csv(result))
    try:
        atomic_write_text(json_path, text)
    except BaseException:
        csv_path.unlink(missing_ok=True)
        raise
    return json_path, csv_path


def is_complete(out_dir: Path, stem: str) -> bool:
    json_path, csv_path = output_paths(out_dir, stem)
    if not (json_path.is_file() and csv_path.is_file()):
        return False
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and len(data.get("scores", [])) == data.get("num_frames")


def check_out_dir(out_dir: Path) -> None:
    """Raise :class:`~vad.errors.UsageError` when results could not be written under
    ``out_dir`` (a file in the way, no permission), without creating anything: the folder is
    made when the first result is written, so a run that fails before scoring anything
    leaves no empty folder."""
    from vad.errors import UsageError

    out_dir = Path(out_dir)
    probe = out_dir
    try:
        while not probe.exists():  # the nearest existing folder is where mkdir will start
            if probe.parent == probe:
                break
            probe = probe.parent
        if not probe.is_dir():
            raise UsageError(f"{out_dir}: cannot create the output folder ({probe} is a file)")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise UsageError(f"{out_dir}: cannot create the output folder (permission denied)")
    except OSError as exc:
        raise UsageError(f"{out_dir}: cannot use it as the output folder ({exc.strerror})") from exc

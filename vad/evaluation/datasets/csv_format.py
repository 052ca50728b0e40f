"""Generic CSV annotations for custom datasets.

The file has a header row ``video,start_frame,end_frame`` with an optional fourth column
``label``, then one row per anomalous interval; a video with several intervals has several rows::

    video,start_frame,end_frame,label
    fight01.mp4,10,50,Fighting
    fight01.mp4,90,120,Fighting
    street/robbery.mp4,0,30,Robbery
    calm_day.mp4,,,Normal

``video`` is a path relative to ``videos_dir`` (the reported name is its file name); a name
that does not exist as written is matched by stem (with or without a suffix) to a video in that
folder. Frames are **0-based with an inclusive end** under the default protocol. Empty (or
``-1``) start and end list a video without an interval. Videos directly inside ``videos_dir``
with no row are normal. Without a label, a video with intervals is labelled ``"Anomalous"`` and
one without is ``"Normal"``. The file must be UTF-8.

Accepted with a warning (an error under ``strict``): ``normal`` in another case (read as
``Normal``), and a video with an anomalous label but no interval.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from vad.evaluation.datasets.base import (
    NORMAL_LABEL,
    AnnotationWarnings,
    VideoAnnotation,
    check_annotation_file,
    check_interval,
    check_videos_dir,
    find_by_stem,
    index_by_stem,
    list_videos,
    parse_int,
    read_text_lines,
)

_HEADER = ["video", "start_frame", "end_frame"]


def _resolve(videos_dir: Path, video: str, where: str, folders: dict) -> Path:
    """``videos_dir / video`` if it exists, else the video of the same stem in that folder
    (``folders`` caches each folder's stem index)."""
    wanted = videos_dir / video
    if wanted.is_file() or not wanted.parent.is_dir():
        return wanted
    if wanted.parent not in folders:
        folders[wanted.parent] = index_by_stem(list_videos(wanted.parent))
    return find_by_stem(wanted.name, folders[wanted.parent], where) or wanted


def read_csv(
    annotations: str | Path, videos_dir: str | Path, warnings: AnnotationWarnings | None = None
) -> list[VideoAnnotation]:
    """Read CSV annotations: listed videos in order of first row, then unlisted normal videos.

    Raises ``FileNotFoundError`` if the file or ``videos_dir`` is missing and ``ValueError`` naming
    the file and line for a bad header, malformed rows, non-UTF-8 text or conflicting labels.
    Suspicious rows go to ``warnings``.
    """
    warnings = warnings if warnings is not None else AnnotationWarnings()
    path = check_annotation_file(annotations)
    videos_dir = check_videos_dir(videos_dir)
    on_disk = list_videos(videos_dir)

    intervals: dict[str, list[tuple[int, int]]] = {}
    labels: dict[str, tuple[str, int]] = {}
    row_of: dict[str, int] = {}
    with io.StringIO("\n".join(read_text_lines(path)), newline="") as fh:
        reader = csv.reader(fh)
        header: list[str] | None = None
        for row in reader:
            lineno = reader.line_num
            where = f"{path}:{lineno}"
            if not row or all(not cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            if header is None:
                header = [c.lower() for c in cells]
                if header not in (_HEADER, [*_HEADER, "label"]):
                    raise ValueError(
                        f"{where}: expected header 'video,start_frame,end_frame[,label]', "
                        f"got {','.join(cells)!r}"
                    )
                continue
            if len(cells) != len(header):
                raise ValueError(f"{where}: expected {len(header)} columns, got {len(cells)}")
            video, start_s, end_s = cells[:3]
            if not video:
                raise ValueError(f"{where}: empty video name")
            spans = intervals.setdefault(video, [])
            row_of.setdefault(video, lineno)
            if {start_s, end_s} <= {"", "-1"}:
                pass  # listed without an interval
            elif not start_s or not end_s:
                raise ValueError(f"{where}: start_frame and end_frame must both be set or empty")
            else:
                start = parse_int(start_s, where, "start_frame")
                end = parse_int(end_s, where, "end_frame")
                spans.append(check_interval(start, end, where))
            label = cells[3] if len(cells) > 3 else ""
            if label != NORMAL_LABEL and label.lower() == NORMAL_LABEL.lower():
                warnings.warn(where, f"label {label!r} read as {NORMAL_LABEL!r} (check its case)")
                label = NORMAL_LABEL
            if label:
                if video in labels and labels[video][0] != label:
                    first, first_line = labels[video]
                    raise ValueError(
                        f"{where}: label {label!r} for {video!r} conflicts with {first!r} "
                        f"on line {first_line}"
                    )
                labels.setdefault(video, (label, lineno))
        if header is None:
            raise ValueError(f"{path}: empty file, expected header 'video,start_frame,end_frame'")

    result: list[VideoAnnotation] = []
    listed: set[Path] = set()
    folders: dict[Path, dict] = {}
    for video, spans in intervals.items():
        label = labels.get(video, ("", 0))[0]
        if not label:
            label = "Anomalous" if spans else NORMAL_LABEL
        elif label == NORMAL_LABEL and spans:
            raise ValueError(
                f"{path}:{labels[video][1]}: video {video!r} is labelled Normal but has intervals"
            )
        elif label != NORMAL_LABEL and not spans:
            where = f"{path}:{labels[video][1]}"
            warnings.warn(where, f"video {video!r} is labelled {label!r} but has no interval")
        video_path = _resolve(videos_dir, video, f"{path}:{row_of[video]}", folders)
        if video_path in listed:
            raise ValueError(f"{path}: {video!r} refers to a video listed under another name")
        listed.add(video_path)
        result.append(VideoAnnotation(video_path.name, video_path, label, spans))
    for video_path in on_disk:
        if video_path not in listed:
            result.append(VideoAnnotation(video_path.name, video_path, NORMAL_LABEL, []))
    return result

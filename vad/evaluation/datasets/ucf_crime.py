"""UCF-Crime test annotations (``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``).

Each non-blank line holds six whitespace-separated fields::

    Abuse028_x264.mp4        Abuse   165  240  -1  -1
    Arson011_x264.mp4        Arson   150  420  680  1267
    Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1

i.e. the video file name, its class, and up to two ``start end`` pairs, ``-1 -1`` meaning "no
interval". The numbers are frame indices, read under the default protocol as **0-based with
an inclusive end**: ``165 240`` marks frames 165..240 (``--protocol sultani`` reads them 1-based,
as the dataset's own MATLAB scorer did). They refer to the original 30 fps videos; frames past the
decoded length are clipped by :meth:`VideoAnnotation.frame_labels`.

Names may lack the suffix (``Abuse028_x264``, as in the copies shipped with VadCLIP and its
forks): videos are matched by name, else by stem. UCF's distribution stores videos in class
subfolders (``Abuse/Abuse028_x264.mp4``, ``Testing_Normal_Videos_Anomaly/...``), so each name is
looked up directly in ``videos_dir`` first, then anywhere below it (shallowest match wins).
Unfound videos keep the path ``videos_dir / name`` and are reported by
:func:`vad.evaluation.datasets.base.split_present`.

Suspicious lines are accepted with a warning (an error under ``strict``): a class that is not
one of the 13 UCF-Crime classes or ``Normal`` (a differently-cased known class is corrected), and
an anomalous video without any interval.
"""

from __future__ import annotations

from pathlib import Path

from vad.evaluation.datasets.base import (
    NORMAL_LABEL,
    VIDEO_EXTENSIONS,
    AnnotationWarnings,
    VideoAnnotation,
    canonical_label,
    check_annotation_file,
    check_interval,
    check_videos_dir,
    find_by_stem,
    index_by_stem,
    parse_int,
    split_lines,
    video_stem,
)

_NUM_FIELDS = 6

UCF_CLASSES = (
    NORMAL_LABEL,
    "Abuse",
    "Arrest",
    "Arson",
    "Assault",
    "Burglary",
    "Explosion",
    "Fighting",
    "RoadAccidents",
    "Robbery",
    "Shooting",
    "Shoplifting",
    "Stealing",
    "Vandalism",
)
"""The class names of UCF-Crime's test annotation file."""


def _index_videos(videos_dir: Path) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """Map file name -> the shallowest video of that name below ``videos_dir``, and stem -> the
    videos of that stem at the shallowest level where the stem occurs."""
    found = (p for p in videos_dir.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
    ordered = sorted(found, key=lambda p: (len(p.relative_to(videos_dir).parts), str(p)))
    ordered = [p for p in ordered if p.is_file()]
    by_name: dict[str, Path] = {}
    for p in ordered:
        by_name.setdefault(p.name, p)
    by_stem = index_by_stem(ordered)
    for stem, paths in by_stem.items():  # only the shallowest level competes
        depth = len(paths[0].relative_to(videos_dir).parts)
        by_stem[stem] = [p for p in paths if len(p.relative_to(videos_dir).parts) == depth]
    return by_name, by_stem


def read_ucf_crime(
    annotations: str | Path, videos_dir: str | Path, warnings: AnnotationWarnings | None = None
) -> list[VideoAnnotation]:
    """Read UCF-Crime temporal test annotations, in file order.

    Raises ``FileNotFoundError`` if the file or ``videos_dir`` is missing, and ``ValueError``
    naming the file and line for malformed lines, non-UTF-8 text or duplicate videos.
    Suspicious lines go to ``warnings``.
    """
    warnings = warnings if warnings is not None else AnnotationWarnings()
    path = check_annotation_file(annotations)
    videos_dir = check_videos_dir(videos_dir)
    by_name, by_stem = _index_videos(videos_dir)
    result: list[VideoAnnotation] = []
    seen: dict[str, int] = {}
    for lineno, where, fields in split_lines(path):
        if len(fields) != _NUM_FIELDS:
            raise ValueError(
                f"{where}: expected 6 fields 'name class s1 e1 s2 e2', got {len(fields)}"
            )
        name, label = fields[0], fields[1]
        stem = video_stem(name)
        if stem in seen:
            raise ValueError(f"{where}: video {name!r} already listed on line {seen[stem]}")
        seen[stem] = lineno
        numbers = [parse_int(tok, where, "frame number") for tok in fields[2:]]
        intervals: list[tuple[int, int]] = []
        for start, end in zip(numbers[0::2], numbers[1::2], strict=True):
            if start == -1 and end == -1:
                continue
            intervals.append(check_interval(start, end, where))
        label = canonical_label(label, UCF_CLASSES, where, warnings)
        if label == NORMAL_LABEL and intervals:
            raise ValueError(f"{where}: video {name!r} is labelled Normal but has intervals")
        if label != NORMAL_LABEL and not intervals:
            warnings.warn(where, f"anomalous video {name!r} ({label}) has no interval")
        video_path = by_name.get(name) or find_by_stem(name, by_stem, where)
        if video_path is None:
            video_path = videos_dir / name
        result.append(VideoAnnotation(video_path.name, video_path, label, intervals))
    return result

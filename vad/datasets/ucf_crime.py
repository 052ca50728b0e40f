"""UCF-Crime test annotations (``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``).

Each non-blank line holds six whitespace-separated fields::

    Abuse028_x264.mp4        Abuse   165  240  -1  -1
    Arson011_x264.mp4        Arson   150  420  680  1267
    Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1

i.e. the video file name, its class, and up to two ``start end`` pairs, ``-1 -1`` meaning "no
interval". The numbers are frame indices, read here as **0-based with an inclusive end**:
``165 240`` marks frames 165..240. They refer to the original 30 fps videos; frames past the
decoded length are clipped by :meth:`VideoAnnotation.frame_labels`.

UCF's distribution stores videos in class subfolders (``Abuse/Abuse028_x264.mp4``,
``Testing_Normal_Videos_Anomaly/...``), so each name is looked up directly in ``videos_dir`` first,
then anywhere below it (shallowest match wins). Unfound videos keep the path
``videos_dir / name`` and are reported by :func:`vad.datasets.base.split_present`.
"""

from __future__ import annotations

from pathlib import Path

from vad.datasets.base import (
    NORMAL_LABEL,
    VIDEO_EXTENSIONS,
    VideoAnnotation,
    check_annotation_file,
    check_interval,
    check_videos_dir,
    parse_int,
)

_NUM_FIELDS = 6


def _index_videos(videos_dir: Path) -> dict[str, Path]:
    """Map file name -> path for every video below ``videos_dir``, shallowest first."""
    index: dict[str, Path] = {}
    found = (p for p in videos_dir.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
    for p in sorted(found, key=lambda p: (len(p.relative_to(videos_dir).parts), str(p))):
        if p.is_file():
            index.setdefault(p.name, p)
    return index


def read_ucf_crime(annotations: str | Path, videos_dir: str | Path) -> list[VideoAnnotation]:
    """Read UCF-Crime temporal test annotations, in file order.

    Raises ``FileNotFoundError`` if the file or ``videos_dir`` is missing, and ``ValueError``
    naming the file and line for malformed lines or duplicate videos.
    """
    path = check_annotation_file(annotations)
    videos_dir = check_videos_dir(videos_dir)
    index = _index_videos(videos_dir)
    result: list[VideoAnnotation] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{path}:{lineno}"
            if len(fields) != _NUM_FIELDS:
                raise ValueError(
                    f"{where}: expected 6 fields 'name class s1 e1 s2 e2', got {len(fields)}"
                )
            name, label = fields[0], fields[1]
            if name in seen:
                raise ValueError(f"{where}: video {name!r} already listed on line {seen[name]}")
            seen[name] = lineno
            numbers = [parse_int(tok, where, "frame number") for tok in fields[2:]]
            intervals: list[tuple[int, int]] = []
            for start, end in zip(numbers[0::2], numbers[1::2], strict=True):
                if start == -1 and end == -1:
                    continue
                intervals.append(check_interval(start, end, where))
            if label == NORMAL_LABEL and intervals:
                raise ValueError(f"{where}: video {name!r} is labelled Normal but has intervals")
            video_path = index.get(name, videos_dir / name)
            result.append(VideoAnnotation(name, video_path, label, intervals))
    return result

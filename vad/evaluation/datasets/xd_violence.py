"""XD-Violence test annotations (``annotations.txt``).

Each non-blank line is a video name followed by any number of ``start end`` frame pairs::

    v=abc123__#1_label_B1-0-0 0 52 120 300
    A.Beautiful.Mind.2001__#00-25-20_00-29-20_label_B2-G-0.mp4 10 80

Names may lack the ``.mp4`` suffix and contain ``#``, ``=``, dots and dashes, but no
whitespace; videos are matched by stem, so any video suffix on disk works. Frame numbers are
read under the default protocol as **0-based with an inclusive end**, like every reader here
(``--protocol xdviodet`` reproduces the official code's end-exclusive ``gt[s:e]``).

Only violent videos are listed. Normal test videos are found by listing the videos directly in
``videos_dir``: any video absent from the file must carry the normal code ``label_A`` in its
name; one with a violent code but no line in the file is an inconsistency (e.g. training videos
mixed into the test folder) and raises ``ValueError``. A listed video without any interval is
accepted with a warning (an error under ``strict``).

The class comes from the ``label_XX`` code in the name: A=Normal, B1=Fighting, B2=Shooting,
B4=Riot, B5=Abuse, B6=Car accident, G=Explosion. Multi-label codes such as ``B1-B2-0`` use the first
non-zero part. A listed video without a code is labelled ``"Anomalous"``.
"""

from __future__ import annotations

import re
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
    split_lines,
    video_stem,
)

XD_CLASSES: dict[str, str] = {
    "A": NORMAL_LABEL,
    "B1": "Fighting",
    "B2": "Shooting",
    "B4": "Riot",
    "B5": "Abuse",
    "B6": "Car accident",
    "G": "Explosion",
}
"""XD-Violence label codes -> class names."""

_LABEL_RE = re.compile(r"label_([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)")


def xd_class_from_name(name: str) -> str | None:
    """Return the class encoded by ``label_XX`` in a video name, or None if there is no code.

    Raises ``ValueError`` for an unknown code.

    Example:
        >>> xd_class_from_name("v=abc__#1_label_B2-G-0.mp4")
        'Shooting'
    """
    matches = _LABEL_RE.findall(name)
    if not matches:
        return None
    parts = [p for p in matches[-1].split("-") if p != "0"]
    if not parts:
        raise ValueError(f"{name!r}: label code has no non-zero class")
    code = parts[0].upper()
    if code not in XD_CLASSES:
        known = ", ".join(XD_CLASSES)
        raise ValueError(f"{name!r}: unknown label code {parts[0]!r} (known: {known})")
    return XD_CLASSES[code]


def read_xd_violence(
    annotations: str | Path, videos_dir: str | Path, warnings: AnnotationWarnings | None = None
) -> list[VideoAnnotation]:
    """Read XD-Violence test annotations: listed videos in file order, then normal videos by name.

    Raises ``FileNotFoundError`` if the file or ``videos_dir`` is missing, and ``ValueError``
    naming the file (and line) for malformed lines, non-UTF-8 text, duplicates and inconsistent
    labels. Suspicious lines go to ``warnings``.
    """
    warnings = warnings if warnings is not None else AnnotationWarnings()
    path = check_annotation_file(annotations)
    videos_dir = check_videos_dir(videos_dir)
    on_disk = list_videos(videos_dir)
    by_stem = index_by_stem(on_disk)
    result: list[VideoAnnotation] = []
    seen: dict[str, int] = {}
    for lineno, where, fields in split_lines(path):
        stem = video_stem(fields[0])
        if stem in seen:
            raise ValueError(f"{where}: video {stem!r} already listed on line {seen[stem]}")
        seen[stem] = lineno
        numbers = [parse_int(tok, where, "frame number") for tok in fields[1:]]
        if len(numbers) % 2:
            raise ValueError(
                f"{where}: expected start/end frame pairs after the name, "
                f"got an odd count ({len(numbers)})"
            )
        intervals = [
            check_interval(s, e, where) for s, e in zip(numbers[0::2], numbers[1::2], strict=True)
        ]
        try:
            label = xd_class_from_name(stem)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if label is None:
            label = "Anomalous"
        elif label == NORMAL_LABEL and intervals:
            raise ValueError(f"{where}: video {stem!r} is labelled A (normal) but has intervals")
        if label != NORMAL_LABEL and not intervals:
            warnings.warn(where, f"violent video {stem!r} ({label}) has no interval")
        video = find_by_stem(fields[0], by_stem, where) or videos_dir / f"{stem}.mp4"
        result.append(VideoAnnotation(video.name, video, label, intervals))

    for video in on_disk:
        if video_stem(video.name) in seen:
            continue
        try:
            label = xd_class_from_name(video.name)
        except ValueError as exc:
            raise ValueError(f"{video}: {exc}") from None
        if label not in (None, NORMAL_LABEL):
            raise ValueError(
                f"{video}: video has violent code ({label}) but no line in {path}; "
                "is videos_dir the XD-Violence test folder?"
            )
        result.append(VideoAnnotation(video.name, video, NORMAL_LABEL, []))
    return result

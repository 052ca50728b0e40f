"""Dataset annotation readers.

Every reader takes ``(annotations, videos_dir, warnings=None)`` and returns a list of
:class:`~vad.evaluation.datasets.base.VideoAnnotation` holding the frame numbers as the file writes
them (0-based, end-inclusive under the default protocol; see
:mod:`vad.evaluation.datasets.protocol` for the others). Use :func:`load_annotations` to pick one
by name and :func:`split_present` to set aside videos that are listed but missing on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vad.evaluation.datasets.base import (
    NORMAL_LABEL,
    AnnotationWarnings,
    VideoAnnotation,
    limit_balanced,
    read_video_list,
    select_listed,
    split_present,
    video_stem,
)
from vad.evaluation.datasets.csv_format import read_csv
from vad.evaluation.datasets.protocol import PROTOCOLS, Protocol, get_protocol
from vad.evaluation.datasets.shanghaitech import read_shanghaitech
from vad.evaluation.datasets.ucf_crime import read_ucf_crime
from vad.evaluation.datasets.xd_violence import read_xd_violence

Reader = Callable[..., list[VideoAnnotation]]

DATASETS: dict[str, Reader] = {
    "ucf-crime": read_ucf_crime,
    "xd-violence": read_xd_violence,
    "shanghaitech": read_shanghaitech,
    "csv": read_csv,
}
"""Dataset name -> reader ``(annotations, videos_dir, warnings) -> list[VideoAnnotation]``."""


def load_annotations(
    name: str,
    annotations: str | Path,
    videos_dir: str | Path,
    warnings: AnnotationWarnings | None = None,
    test_list: str | Path | None = None,
) -> list[VideoAnnotation]:
    """Read the annotations of dataset ``name`` (a key of :data:`DATASETS`).

    Suspicious lines are collected in ``warnings`` (``AnnotationWarnings(strict=True)`` turns
    them into ``ValueError``). ``test_list`` is a file of video names (one a line) that
    restricts the test set to those videos, in list order; for ShanghaiTech it *defines* the
    test set (listed videos without a mask are normal).

    Raises ``ValueError`` listing the known datasets if ``name`` is unknown.
    """
    reader = DATASETS.get(name)
    if reader is None:
        known = ", ".join(sorted(DATASETS))
        raise ValueError(f"unknown dataset {name!r}; known datasets: {known}")
    if name == "shanghaitech":
        return read_shanghaitech(annotations, videos_dir, warnings, test_list=test_list)
    result = reader(annotations, videos_dir, warnings)
    if test_list is not None:
        result = select_listed(result, read_video_list(test_list), test_list)
    return result


__all__ = [
    "DATASETS",
    "NORMAL_LABEL",
    "PROTOCOLS",
    "AnnotationWarnings",
    "Protocol",
    "VideoAnnotation",
    "get_protocol",
    "limit_balanced",
    "load_annotations",
    "read_csv",
    "read_shanghaitech",
    "read_ucf_crime",
    "read_video_list",
    "read_xd_violence",
    "select_listed",
    "split_present",
    "video_stem",
]

"""Dataset annotation readers.

Every reader takes ``(annotations, videos_dir)`` and returns a list of
:class:`~vad.datasets.base.VideoAnnotation` with 0-based, end-inclusive frame intervals. Use
:func:`load_annotations` to pick one by name and :func:`split_present` to set aside videos that
are listed but missing on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vad.datasets.base import NORMAL_LABEL, VideoAnnotation, split_present
from vad.datasets.csv_format import read_csv
from vad.datasets.shanghaitech import read_shanghaitech
from vad.datasets.ucf_crime import read_ucf_crime
from vad.datasets.xd_violence import read_xd_violence

Reader = Callable[[str | Path, str | Path], list[VideoAnnotation]]

DATASETS: dict[str, Reader] = {
    "ucf-crime": read_ucf_crime,
    "xd-violence": read_xd_violence,
    "shanghaitech": read_shanghaitech,
    "csv": read_csv,
}
"""Dataset name -> reader ``(annotations, videos_dir) -> list[VideoAnnotation]``."""


def load_annotations(
    name: str, annotations: str | Path, videos_dir: str | Path
) -> list[VideoAnnotation]:
    """Read the annotations of dataset ``name`` (a key of :data:`DATASETS`).

    Raises ``ValueError`` listing the known datasets if ``name`` is unknown.
    """
    reader = DATASETS.get(name)
    if reader is None:
        known = ", ".join(sorted(DATASETS))
        raise ValueError(f"unknown dataset {name!r}; known datasets: {known}")
    return reader(annotations, videos_dir)


__all__ = [
    "DATASETS",
    "NORMAL_LABEL",
    "VideoAnnotation",
    "load_annotations",
    "read_csv",
    "read_shanghaitech",
    "read_ucf_crime",
    "read_xd_violence",
    "split_present",
]

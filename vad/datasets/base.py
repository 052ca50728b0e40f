"""Common annotation record and helpers shared by all dataset readers.

Frame convention used everywhere in :mod:`vad.datasets`: frame numbers are **0-based** indices of
decoded frames and interval ends are **inclusive**, so ``(3, 5)`` marks frames 3, 4 and 5.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vad.video import VIDEO_EXTENSIONS  # one list of video suffixes for all of vad

NORMAL_LABEL = "Normal"
"""Class name used for videos without any anomaly."""


@dataclass
class VideoAnnotation:
    """Ground truth of one test video.

    Attributes:
        name: video file name as on disk, e.g. ``"Abuse028_x264.mp4"``.
        path: expected location under the videos folder; it may not exist (see
            :func:`split_present`).
        label: class name, ``"Normal"`` for normal videos.
        intervals: anomalous frame ranges, 0-based with inclusive end.
        mask: optional per-frame 0/1 ground truth (ShanghaiTech); combined with ``intervals``.

    Example:
        >>> ann = VideoAnnotation("a.mp4", Path("a.mp4"), "Abuse", [(3, 5)])
        >>> ann.frame_labels(8).tolist()
        [0, 0, 0, 1, 1, 1, 0, 0]
    """

    name: str
    path: Path
    label: str
    intervals: list[tuple[int, int]] = field(default_factory=list)
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        for start, end in self.intervals:
            if start < 0 or end < start:
                raise ValueError(
                    f"{self.name}: invalid interval ({start}, {end}); "
                    "expected 0 <= start <= end (0-based, inclusive end)"
                )
        if self.mask is not None:
            mask = np.asarray(self.mask)
            if mask.ndim != 1:
                raise ValueError(f"{self.name}: mask must be 1-D, got shape {mask.shape}")
            self.mask = (mask != 0).astype(np.uint8)

    @property
    def is_anomalous(self) -> bool:
        """True when the video's class is not ``"Normal"``."""
        return self.label != NORMAL_LABEL

    def frame_labels(self, num_decoded_frames: int) -> np.ndarray:
        """Return the 0/1 ``uint8`` ground truth for exactly ``num_decoded_frames`` frames.

        Intervals running past the decoded length are clipped; a mask is truncated or
        zero-padded. Annotations and decoders often disagree by a few frames, so the number of
        frames actually decoded is the reference.
        """
        n = int(num_decoded_frames)
        if n < 0:
            raise ValueError(f"{self.name}: num_decoded_frames must be >= 0, got {n}")
        labels = np.zeros(n, dtype=np.uint8)
        if self.mask is not None:
            m = min(n, len(self.mask))
            labels[:m] = self.mask[:m]
        for start, end in self.intervals:
            if start < n:
                labels[start : min(end, n - 1) + 1] = 1
        return labels


def split_present(
    annotations: Iterable[VideoAnnotation],
) -> tuple[list[VideoAnnotation], list[VideoAnnotation]]:
    """Split annotations into ``(present, missing)`` by whether ``path`` exists on disk.

    Missing videos must be reported by the caller and excluded from scoring, never scored as 0.

    Example:
        >>> ann = VideoAnnotation("x.mp4", Path("/nope/x.mp4"), "Normal")
        >>> present, missing = split_present([ann])
        >>> [a.name for a in missing]
        ['x.mp4']
    """
    present: list[VideoAnnotation] = []
    missing: list[VideoAnnotation] = []
    for ann in annotations:
        (present if ann.path.exists() else missing).append(ann)
    return present, missing


def intervals_from_mask(mask: np.ndarray) -> list[tuple[int, int]]:
    """Return the runs of non-zero frames of a 1-D mask as inclusive ``(start, end)`` pairs.

    Example:
        >>> intervals_from_mask(np.array([0, 1, 1, 0, 1]))
        [(1, 2), (4, 4)]
    """
    m = np.concatenate([[0], (np.asarray(mask) != 0).astype(np.int8), [0]])
    edges = np.diff(m)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def check_annotation_file(path: str | Path) -> Path:
    """Return ``path`` as a :class:`Path`, raising if it is not an existing file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"annotation file not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path}: expected an annotation file, got a folder")
    return path


def check_videos_dir(videos_dir: str | Path) -> Path:
    """Return ``videos_dir`` as a :class:`Path`, raising if it is not an existing folder."""
    videos_dir = Path(videos_dir)
    if not videos_dir.is_dir():
        raise FileNotFoundError(f"videos folder not found: {videos_dir}")
    return videos_dir


def list_videos(videos_dir: Path, suffixes: Iterable[str] = VIDEO_EXTENSIONS) -> list[Path]:
    """Return the video files directly inside ``videos_dir`` (not recursive), sorted by name."""
    wanted = {s.lower() for s in suffixes}
    return sorted(p for p in videos_dir.iterdir() if p.is_file() and p.suffix.lower() in wanted)


def parse_int(token: str, where: str, what: str) -> int:
    """Parse an integer token, raising ``ValueError`` that says ``where`` and ``what``."""
    try:
        return int(token)
    except ValueError:
        raise ValueError(f"{where}: {what} must be an integer, got {token!r}") from None


def check_interval(start: int, end: int, where: str) -> tuple[int, int]:
    """Validate a 0-based inclusive interval, raising ``ValueError`` that says ``where``."""
    if start < 0 or end < start:
        raise ValueError(
            f"{where}: invalid interval ({start}, {end}); "
            "expected 0 <= start <= end (0-based frames, inclusive end)"
        )
    return start, end

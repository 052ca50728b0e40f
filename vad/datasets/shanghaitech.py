"""ShanghaiTech Campus test annotations: one frame-level 0/1 mask per test video.

``annotations`` is a folder of ``<stem>.npy`` files (the dataset's ``test_frame_mask``), each a
1-D array with one 0/1 value per frame. The masks define the test set; each is matched to the
video ``<stem>.mp4|.avi|.mkv|.mov`` directly inside ``videos_dir`` (frame folders are not
supported). Other videos in ``videos_dir`` are ignored. A video whose mask has any anomalous frame
is labelled ``"Anomalous"``, otherwise ``"Normal"``. Masks shorter or longer than the decoded video
are zero-padded or truncated by :meth:`VideoAnnotation.frame_labels`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vad.datasets.base import (
    NORMAL_LABEL,
    VideoAnnotation,
    check_videos_dir,
    intervals_from_mask,
    list_videos,
)


def _load_mask(path: Path) -> np.ndarray:
    try:
        mask = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read frame mask ({exc})") from None
    if not isinstance(mask, np.ndarray):
        raise ValueError(f"{path}: expected a single array, got {type(mask).__name__}")
    if mask.ndim != 1:
        raise ValueError(
            f"{path}: expected a 1-D frame-level mask, got shape {mask.shape} "
            "(pixel masks are not supported)"
        )
    if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
        raise ValueError(f"{path}: mask values must be 0 or 1")
    return mask.astype(np.uint8)


def read_shanghaitech(annotations: str | Path, videos_dir: str | Path) -> list[VideoAnnotation]:
    """Read ShanghaiTech frame masks, sorted by video stem.

    Raises ``FileNotFoundError`` if a folder is missing and ``ValueError`` naming the file for an
    unreadable or malformed mask, an empty mask folder or ambiguous videos.
    """
    masks_dir = Path(annotations)
    if not masks_dir.exists():
        raise FileNotFoundError(f"mask folder not found: {masks_dir}")
    if not masks_dir.is_dir():
        raise ValueError(f"{masks_dir}: expected a folder of <video>.npy frame masks, got a file")
    videos_dir = check_videos_dir(videos_dir)
    mask_files = sorted(p for p in masks_dir.glob("*.npy") if p.is_file())
    if not mask_files:
        raise ValueError(f"{masks_dir}: no .npy frame masks found")

    by_stem: dict[str, Path] = {}
    for video in list_videos(videos_dir):
        if video.stem in by_stem:
            raise ValueError(
                f"{videos_dir}: ambiguous videos for {video.stem!r}: "
                f"{by_stem[video.stem].name} and {video.name}"
            )
        by_stem[video.stem] = video

    result: list[VideoAnnotation] = []
    for mask_file in mask_files:
        mask = _load_mask(mask_file)
        stem = mask_file.stem
        video = by_stem.get(stem, videos_dir / f"{stem}.mp4")
        label = "Anomalous" if mask.any() else NORMAL_LABEL
        result.append(VideoAnnotation(video.name, video, label, intervals_from_mask(mask), mask))
    return result

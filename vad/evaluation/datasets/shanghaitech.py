"""ShanghaiTech Campus test annotations: one frame-level 0/1 mask per test video.

``annotations`` is a folder of ``<stem>.npy`` files (the dataset's ``test_frame_mask``), each a
1-D array with one 0/1 value per frame. Without a list, the masks define the test set (the
original 107-video split); each is matched by stem to a video (any video suffix) directly inside
``videos_dir`` (frame folders are not supported). Other videos in ``videos_dir`` are ignored.

With ``test_list`` (the weakly supervised 199-video split of Zhong et al. used by RTFM and its
successors, e.g. RTFM's ``list/shanghai-i3d-test-10crop.list``), the listed videos are the test
set, in list order; a listed video without a mask (those come from the original training split)
is normal, as in RTFM's ``list/make_gt_sh.py``.

A video whose mask has any anomalous frame is labelled ``"Anomalous"``, otherwise ``"Normal"``.
Masks longer than the decoded video are truncated; shorter ones are padded with their last label
(RTFM's convention) or zeros (``--mask-pad zero``), see :meth:`VideoAnnotation.frame_labels`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vad.evaluation.datasets.base import (
    NORMAL_LABEL,
    AnnotationWarnings,
    VideoAnnotation,
    check_videos_dir,
    intervals_from_mask,
    list_videos,
    read_video_list,
    video_stem,
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


def read_shanghaitech(
    annotations: str | Path,
    videos_dir: str | Path,
    warnings: AnnotationWarnings | None = None,
    test_list: str | Path | None = None,
) -> list[VideoAnnotation]:
    """Read ShanghaiTech frame masks, sorted by video stem (or in ``test_list`` order).

    Raises ``FileNotFoundError`` if a folder is missing and ``ValueError`` naming the file for an
    unreadable or malformed mask, an empty mask folder, a bad list file or ambiguous videos.
    ``warnings`` is accepted for a uniform reader signature; masks have nothing to warn about.
    """
    masks_dir = Path(annotations)
    if not masks_dir.exists():
        raise FileNotFoundError(f"mask folder not found: {masks_dir}")
    if not masks_dir.is_dir():
        raise ValueError(f"{masks_dir}: expected a folder of <video>.npy frame masks, got a file")
    videos_dir = check_videos_dir(videos_dir)
    mask_files = {p.stem: p for p in sorted(masks_dir.glob("*.npy")) if p.is_file()}
    if not mask_files:
        raise ValueError(f"{masks_dir}: no .npy frame masks found")

    by_stem: dict[str, Path] = {}
    for video in list_videos(videos_dir):
        stem = video_stem(video.name)
        if stem in by_stem:
            raise ValueError(
                f"{videos_dir}: ambiguous videos for {stem!r}: "
                f"{by_stem[stem].name} and {video.name}"
            )
        by_stem[stem] = video

    stems = list(mask_files) if test_list is None else [s for s, _ in read_video_list(test_list)]
    result: list[VideoAnnotation] = []
    for stem in stems:
        video = by_stem.get(stem, videos_dir / f"{stem}.mp4")
        if stem not in mask_files:  # listed, no mask: from the original training split
            result.append(VideoAnnotation(video.name, video, NORMAL_LABEL, []))
            continue
        mask = _load_mask(mask_files[stem])
        label = "Anomalous" if mask.any() else NORMAL_LABEL
        result.append(VideoAnnotation(video.name, video, label, intervals_from_mask(mask), mask))
    return result

"""Batched uint8 preprocessing (no torch) is open_clip's own (PIL-based) eval transform."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from vad.model.preprocess import Preprocess


def natural_frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth images with some edges: closer to video frames than white noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    frames = []
    for _ in range(n):
        f = np.stack(
            [
                128
                + 100
                * np.sin(rng.uniform(2, 12) * xx + rng.uniform(2, 12) * yy + rng.uniform(0, 6))
                for _ in range(3)
            ],
            axis=-1,
        )
        x0, y0 = rng.integers(0, w // 2), rng.integers(0, h // 2)
        f[y0 : y0 + h // 4, x0 : x0 + w // 4] = rng.uniform(0, 255, 3)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return np.stack(frames)


@pytest.mark.parametrize(
    "size,resize_mode,shape",
    [
        (224, "shortest", (576, 768)),
        (224, "shortest", (528, 720)),
        (256, "shortest", (120, 160)),
        (224, "squash", (576, 768)),
        (224, "longest", (300, 500)),
    ],
)
def test_matches_open_clip_transform(size, resize_mode, shape):
    frames = natural_frames(3, *shape)
    reference = open_clip.image_transform(
        size,
        is_train=False,
        mean=open_clip.OPENAI_DATASET_MEAN,
        std=open_clip.OPENAI_DATASET_STD,
        interpolation="bicubic",
        resize_mode=resize_mode,
    )
    expected = torch.stack([reference(Image.fromarray(f)) for f in frames]).numpy()
    ours = Preprocess(
        size=(size, size),
        mean=open_clip.OPENAI_DATASET_MEAN,
        std=open_clip.OPENAI_DATASET_STD,
        resize_mode=resize_mode,
    )(frames)
    assert ours.shape == expected.shape and ours.dtype == np.float32
    diff = np.abs(ours - expected) * 0.27 * 255  # in 0-255 pixel units (std ~0.27)
    # PIL's own resize: the same pixels (99 %), but where a crop box's float rounding moves
    # PIL's fixed-point weights (one or two grey levels)
    assert diff.mean() < 0.01
    assert np.quantile(diff, 0.99) < 0.5
    assert diff.max() < 2.5


def test_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="N,H,W,3"):
        Preprocess(size=(224, 224), mean=(0,) * 3, std=(1,) * 3)(np.zeros((4, 4, 3), np.uint8))

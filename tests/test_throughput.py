"""The fast paths give the same results as the plain ones: 8-bit resizing is PIL's output,
the encoder's uint8 entry point equals normalise-then-encode, and encoding one batch ahead
keeps every embedding with its frame. (Speed itself is measured by scripts/bench.py.)"""

from __future__ import annotations

import cv2
import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from vad.model.encoder import ClipEncoder, Preprocess
from vad.pipeline import Detector


def textured_frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    frames = [
        np.stack([128 + 100 * np.sin(rng.uniform(3, 15) * (xx + c * yy)) for c in range(3)], -1)
        for _ in range(n)
    ]
    return np.clip(frames, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    "size,resize_mode,shape",
    [(224, "shortest", (576, 768)), (224, "shortest", (768, 576)), (256, "shortest", (120, 160)),
     (224, "longest", (300, 500))],
)  # fmt: skip
def test_uint8_resize_is_pils(size, resize_mode, shape):
    frames = textured_frames(2, *shape)
    pil = open_clip.image_transform(
        size, is_train=False, mean=(0.0,) * 3, std=(1 / 255,) * 3, resize_mode=resize_mode
    )
    expected = torch.stack([pil(Image.fromarray(f)) for f in frames]).round().numpy()
    pre = Preprocess(size=(size, size), mean=(0.5,) * 3, std=(0.25,) * 3, resize_mode=resize_mode)
    ours = pre.resize_crop(frames)
    assert ours.dtype == np.uint8 and ours.shape == (2, 3, size, size)
    assert ours.flags.c_contiguous
    diff = np.abs(ours.astype(np.float32) - expected)
    # PIL's own resize: equal but where a crop box's float rounding moves PIL's fixed-point
    # weights, rarely by a grey level or two
    assert diff.max() <= 2
    assert diff.mean() < 0.005


def test_float_frames_are_rounded_to_8_bits_first():
    frames = textured_frames(2, 96, 128)
    pre = Preprocess(size=(64, 64), mean=(0.5,) * 3, std=(0.25,) * 3)
    u8 = pre.resize_crop(frames)
    f32 = pre.resize_crop(frames.astype(np.float32) + 0.2)
    assert f32.dtype == np.uint8 and f32.shape == u8.shape
    np.testing.assert_array_equal(u8, f32)


def test_uint8_entry_point_equals_normalise_then_encode(tiny_model):
    encoder = ClipEncoder(tiny_model, "none", "cpu")
    pixels = encoder.preprocess.resize_crop(textured_frames(5, 48, 80))
    plain = encoder.encode_images(encoder.preprocess.normalize(pixels))
    fast = encoder.collect(encoder.submit_pixels(pixels))
    assert fast.dtype == np.float32 and fast.shape == plain.shape
    np.testing.assert_allclose(fast, plain, rtol=0, atol=1e-6)


class DeferredEncoder:
    """Embeds a frame as (mean grey level, 1); results come back only on ``collect``."""

    cacheable = False
    preprocess = Preprocess(size=(16, 16), mean=(0.0,) * 3, std=(1.0,) * 3)

    def __init__(self):
        self.in_flight = 0
        self.most_in_flight = 0

    def submit_pixels(self, pixels):
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        grey = np.asarray(pixels, np.float32).mean(axis=(1, 2, 3))
        return np.stack([grey, np.ones_like(grey)], axis=1)

    def collect(self, handle):
        self.in_flight -= 1
        return handle


def test_encoding_one_batch_ahead_keeps_embeddings_with_their_frames(tmp_path):
    path = tmp_path / "greys.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (32, 24))
    greys = [20 + 3 * i for i in range(70)]
    for g in greys:
        writer.write(np.full((24, 32, 3), g, np.uint8))
    writer.release()
    encoder = DeferredEncoder()
    with Detector(encoder=encoder, sample_fps=None, batch_size=8, use_cache=False) as det:
        emb = det.embed(path)
    assert encoder.most_in_flight == 2 and encoder.in_flight == 0  # pipelined, all collected
    np.testing.assert_array_equal(emb.indices, np.arange(70))
    np.testing.assert_allclose(emb.embeddings[:, 0], np.array(greys, np.float32), atol=2.5)
    assert emb.embeddings.dtype == np.float32

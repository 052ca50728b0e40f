"""Frame preprocessing without torch: uint8 RGB frames -> the model's input, matching open_clip's
eval transform (PIL bicubic resize with antialiasing, centre crop, normalisation).

The resize is PIL's own (what open_clip's torchvision transform calls on a PIL image), so the
pixels equal open_clip's; for a centre crop PIL computes only the cropped part (its ``box``
argument, the same weights but for float rounding, which moves 1 % of the pixels by a grey
level or two). It costs 3-7 ms a frame on one core, in the decode worker, which
overlaps it with the model; neither process needs torch for its input. (torch's uint8 resize,
used before, was faster but within one grey level of PIL; OpenCV's resizes are not PIL's
arithmetic: INTER_AREA differs by up to 24 grey levels on video frames.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image  # here, not on the first frame: a decoding thread's first batch is timed

RESIZE_VERSION = "pil"  # changes whenever resize_crop's arithmetic does (cache keys)


@dataclass(frozen=True)
class Preprocess:
    """The parts of an OpenCLIP eval transform that matter for a batch of RGB frames.

    >>> pre = Preprocess(size=(32, 32), mean=(0.5,) * 3, std=(0.25,) * 3)
    >>> pre.resize_crop(np.zeros((2, 48, 64, 3), np.uint8)).shape
    (2, 3, 32, 32)
    >>> float(pre.normalize(np.full((1, 3, 32, 32), 255, np.uint8)).max())
    2.0
    """

    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"
    fill_color: int = 0

    @classmethod
    def from_config(cls, cfg: dict) -> Preprocess:
        """From open_clip's preprocess config (``open_clip.get_model_preprocess_cfg``)."""
        size = cfg.get("size", 224)
        size = (size, size) if isinstance(size, int) else tuple(size)
        return cls(
            size=(int(size[0]), int(size[1])),
            mean=tuple(float(m) for m in cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))),
            std=tuple(float(s) for s in cfg.get("std", (0.26862954, 0.26130258, 0.27577711))),
            interpolation=cfg.get("interpolation") or "bicubic",
            resize_mode=cfg.get("resize_mode") or "shortest",
            fill_color=int(cfg.get("fill_color", 0) or 0),
        )

    def to_dict(self) -> dict:
        """Plain JSON-ready data (:meth:`from_dict` reads it back)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> Preprocess:
        return cls(
            size=tuple(int(x) for x in data["size"]),
            mean=tuple(float(x) for x in data["mean"]),
            std=tuple(float(x) for x in data["std"]),
            interpolation=str(data.get("interpolation", "bicubic")),
            resize_mode=str(data.get("resize_mode", "shortest")),
            fill_color=int(data.get("fill_color", 0)),
        )

    def key(self) -> str:
        """A short, stable description for cache keys (with the resize's version)."""
        return (
            f"{self.size[0]}x{self.size[1]}-{self.resize_mode}-{self.interpolation}-"
            f"{RESIZE_VERSION}-{','.join(f'{m:.4f}' for m in self.mean)}-"
            f"{','.join(f'{s:.4f}' for s in self.std)}"
        )

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """uint8 frames (N,H,W,3) -> normalised float32 (N,3,h,w)."""
        return self.normalize(self.resize_crop(frames))

    def normalize(self, pixels) -> np.ndarray:
        """uint8 (N,3,h,w) at model size -> the model's normalised float32 input."""
        x = np.asarray(pixels, dtype=np.float32)
        scale = (1.0 / (255.0 * np.asarray(self.std, np.float32))).reshape(1, 3, 1, 1)
        shift = (np.asarray(self.mean, np.float32) / np.asarray(self.std, np.float32)).reshape(
            1, 3, 1, 1
        )
        x *= scale
        x -= shift
        return x

    def resize_crop(self, frames) -> np.ndarray:
        """uint8 frames (N,H,W,3) -> uint8 (N,3,h,w) resized and cropped to the model's size:
        the costly geometric part, done where the frames are decoded; 8 bits per value, as
        PIL's transform also rounds to 8 bits before normalising."""
        x = np.asarray(frames)
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"expected frames of shape (N,H,W,3), got {tuple(x.shape)}")
        if x.dtype != np.uint8:
            x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
        th, tw = self.size
        h, w = x.shape[1:3]
        out = np.empty((len(x), 3, th, tw), np.uint8)
        if self.resize_mode == "squash":
            size, crop, fill = (th, tw), None, 0
        elif self.resize_mode == "longest":
            scale = min(th / h, tw / w)
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            crop, fill = True, self.fill_color
        else:  # shortest: torchvision Resize(int) semantics, then centre crop
            if th == tw:
                short, long = (h, w) if h <= w else (w, h)
                new_long = int(th * long / short)
                size = (th, new_long) if h <= w else (new_long, th)
            else:
                scale = max(th / h, tw / w)
                size = (round(h * scale), round(w * scale))
            crop, fill = True, 0
        window = None
        if crop and size[0] >= th and size[1] >= tw:  # a crop inside the resized image
            # torchvision's CenterCrop rounds the offset: int(round((h - th) / 2.0))
            window = (int(round((size[0] - th) / 2.0)), int(round((size[1] - tw) / 2.0)), th, tw)
        for i, frame in enumerate(x):
            img = _resize(frame, size, self.interpolation, window)
            if crop and window is None:
                img = _center_crop_or_pad(img, (th, tw), fill)
            out[i] = img.transpose(2, 0, 1)
        return out


# -- resizing: PIL's own, as open_clip's transform ---------------------------------------------


def _resize(img: np.ndarray, size: tuple[int, int], interpolation: str, window=None) -> np.ndarray:
    """One (H,W,3) uint8 image resized to ``size`` (h, w) by PIL (what torchvision's ``Resize``
    calls for a PIL image), or only the part ``window`` (top, left, h, w) of that result: PIL's
    ``box`` computes those outputs alone, with the same weights."""
    h, w = img.shape[:2]
    resample = Image.BILINEAR if interpolation == "bilinear" else Image.BICUBIC
    if (h, w) == tuple(size) and window is None:
        return img
    pil = Image.fromarray(np.ascontiguousarray(img))
    if window is None:
        return np.asarray(pil.resize((size[1], size[0]), resample))
    top, left, wh, ww = window
    sy, sx = h / size[0], w / size[1]
    box = (left * sx, top * sy, (left + ww) * sx, (top + wh) * sy)
    return np.asarray(pil.resize((ww, wh), resample, box=box))


def _center_crop_or_pad(img: np.ndarray, size: tuple[int, int], fill: int) -> np.ndarray:
    th, tw = size
    h, w = img.shape[:2]
    if h < th or w < tw:
        pad_h, pad_w = max(0, th - h), max(0, tw - w)
        padded = np.full((h + pad_h, w + pad_w, 3), fill, np.uint8)
        padded[pad_h // 2 : pad_h // 2 + h, pad_w // 2 : pad_w // 2 + w] = img
        img = padded
        h, w = img.shape[:2]
    # torchvision's CenterCrop rounds the offset: int(round((h - th) / 2.0))
    top = int(round((h - th) / 2.0))
    left = int(round((w - tw) / 2.0))
    return img[top : top + th, left : left + tw]

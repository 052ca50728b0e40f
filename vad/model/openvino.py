"""The OpenVINO runtime: OpenCLIP's image and text towers exported once to OpenVINO IR, kept in
the cache folder, and run from there by later processes without torch or open_clip.

An export is a folder ``CACHE/exports/KEY/`` (``image.xml/.bin``, ``text.xml/.bin``,
``manifest.json``). KEY hashes everything the exported arithmetic depends on: the model, its
weights' identity (:func:`vad.model.modelid.weights_identity`: the tag, or the checkpoint's
content), the precision, and the versions of the export format, OpenVINO and open_clip. The towers
are converted with ``openvino.convert_model`` straight from the torch modules (traced; torch's fused
attention fast path switched off first, open_clip#186), written to a temporary folder and renamed
into place, so a reader never sees half an export and concurrent processes do not clash.

Each export is checked before it is kept: the towers' embeddings of a few test images and
texts must agree with torch fp32 (cosine >= :data:`MIN_AGREEMENT`; int8 is measured and
reported instead). The agreement is stored in the manifest.

Precisions: ``fp32`` keeps fp32 weights and computes in fp32; ``bf16`` and ``fp16`` store the
weights in fp16 (half the disk) and compute at that precision (OpenVINO's inference precision
hint, on CPUs that do it natively); ``int8`` is the image tower quantised by NNCF (post-training,
on synthetic calibration images), the text tower kept in floating point.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from vad.model.modelid import encoder_identity, package_version, weights_identity
from vad.model.preprocess import Preprocess

log = logging.getLogger(__name__)

EXPORT_VERSION = 1
MIN_AGREEMENT = 0.999
HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}


def export_key(model: str, weights: str, precision: str) -> str:
    """The export folder's name for these weights at this precision."""
    parts = {
        "v": EXPORT_VERSION,
        "model": model,
        "weights": weights,
        "precision": precision,
        "runtime": "openvino",
        "openvino": package_version("openvino"),
        "open_clip": package_version("open_clip_torch"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def export_root(cache_dir: str | Path) -> Path:
    """Where exports live: ``$VAD_EXPORT_DIR`` when set (one folder shared by several caches,
    e.g. by a test session's throw-away caches), else ``CACHE/exports``."""
    return Path(os.environ.get("VAD_EXPORT_DIR") or Path(cache_dir) / "exports")


def export_folder(cache_dir: str | Path, model: str, weights: str, precision: str) -> Path:
    return export_root(cache_dir) / export_key(model, weights, precision)


def cpu_capabilities() -> list[str]:
    """What OpenVINO's CPU plugin says this CPU computes natively (``FP32``, ``BF16``, ...)."""
    import openvino as ov

    return list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def cpu_threads() -> int:
    """The cores this process may run on (a pinned process gets fewer threads)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# -- running an export ----------------------------------------------------------------------------


class OpenVINOEncoder:
    """L2-normalised float32 image and text embeddings from an export folder; the same methods
    as :class:`vad.model.encoder.ClipEncoder`, without torch. Text needs open_clip's tokenizer (and
    so torch), loaded the first time texts are encoded.

    >>> encoder = OpenVINOEncoder(folder, "bf16")                       # doctest: +SKIP
    >>> encoder.encode_frames(frames).shape                              # doctest: +SKIP
    (16, 512)
    """

    runtime = "openvino"
    cacheable = True

    def __init__(
        self,
        folder: str | Path,
        precision: str,
        memo_dir: str | Path | None = None,
        compute: str | None = None,
    ):
        self.folder = Path(folder)
        self.manifest = json.loads((self.folder / "manifest.json").read_text())
        m = self.manifest
        self.model_name = m["model"]
        self.pretrained = m["pretrained"]
        self.pretrained_label = m["pretrained_label"]
        self.random_weights = bool(m["random_weights"])
        self.preprocess = Preprocess.from_dict(m["preprocess"])
        self.logit_scale = float(m["logit_scale"])
        self.precision = precision
        # what the layers int8 leaves in floating point compute in (bf16 where native)
        self.compute = compute or (precision if precision in HINTS else "fp32")
        self.memo_dir = memo_dir
        self.device = "cpu"
        self._weights = m["weights"]
        if self.random_weights:  # as loud as the torch runtime, which says it when it loads
            log.warning(
                "model %s has RANDOM weights: scores are meaningless; use this for speed tests "
                "only", self.model_name,
            )  # fmt: skip
        self._tokenizer = None
        self._text = None
        self._image = self._compile("image")  # a broken export fails here, not mid-video

    def _compile(self, tower: str):
        import openvino as ov

        core = ov.Core()
        # compiled models are cached too: a later process imports them instead of compiling
        core.set_property({"CACHE_DIR": str(self.folder / "compiled")})
        config = {
            "INFERENCE_PRECISION_HINT": HINTS[self.compute],
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": cpu_threads(),
        }
        return core.compile_model(str(self.folder / f"{tower}.xml"), "CPU", config)

    def encode_images(self, pixels) -> np.ndarray:
        """Preprocessed pixels (N,3,h,w) -> normalised embeddings (N,D) float32."""
        x = np.ascontiguousarray(pixels, dtype=np.float32)
        return np.asarray(self._image(x)[0], dtype=np.float32)

    def submit_pixels(self, pixels) -> np.ndarray:
        """uint8 pixels at model size (N,3,h,w), as the decode worker makes them -> embeddings
        (computed now: on a CPU there is nothing to overlap)."""
        return self.encode_images(self.preprocess.normalize(pixels))

    collect = staticmethod(np.asarray)

    def encode_frames(self, frames: np.ndarray) -> np.ndarray:
        """uint8 RGB frames (N,H,W,3) -> normalised embeddings (N,D) float32."""
        return self.encode_images(self.preprocess(frames))

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            import open_clip

            self._tokenizer = open_clip.get_tokenizer(self.model_name)
        return self._tokenizer

    def encode_text(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Texts -> normalised embeddings (len(texts), D) float32."""
        if self._text is None:
            self._text = self._compile("text")
        trim = bool(self.manifest["text"]["trimmed"])
        out = []
        for start in range(0, len(texts), batch_size):
            tokens = np.asarray(self.tokenizer(texts[start : start + batch_size]), np.int64)
            if trim:  # positions past the longest text cannot change a causal model's result
                tokens = tokens[:, : max(1, int((tokens != 0).sum(axis=1).max()))]
            out.append(np.asarray(self._text(np.ascontiguousarray(tokens))[0], np.float32))
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    def identity(self) -> dict:
        """What determines the embeddings (cache keys): as ClipEncoder's, runtime included."""
        return encoder_identity(self)


# -- making an export -----------------------------------------------------------------------------


def synthetic_images(n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Smooth images with edges and texture (uint8 N,3,h,w): test and calibration inputs that
    look more like frames than white noise does."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.empty((n, 3, h, w), np.uint8)
    for i in range(n):
        img = np.stack(
            [
                128 + 90 * np.sin(rng.uniform(2, 14) * (xx + rng.uniform(0.3, 1) * yy) + i)
                for _ in range(3)
            ]
        )
        for _ in range(3):
            y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
            img[:, y0 : y0 + h // 3, x0 : x0 + w // 3] = rng.uniform(0, 255, (3, 1, 1))
        img += rng.normal(0, 8, img.shape)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


TEST_TEXTS = [
    "a surveillance camera frame of a person running in a parking garage",
    "a photo of a street at night",
    "two people fighting",
    "an empty corridor",
]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def export(model: str, pretrained: str, precision: str, cache_dir: str | Path) -> Path:
    """The export folder for ``model`` at ``precision``, made now if it does not exist.
    Raises :class:`~vad.errors.WeightsUnavailable` (and ``ValueError`` for an unknown model)
    as the torch runtime would, any other exception when conversion fails."""
    weights = weights_identity(model, pretrained, cache_dir)
    folder = export_folder(cache_dir, model, weights, precision)
    if (folder / "manifest.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        manifest = _convert(model, pretrained, precision, weights, tmp, cache_dir)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        try:
            tmp.rename(folder)  # atomic: whole or not at all
        except OSError:
            if not (folder / "manifest.json").is_file():  # not another process's finished one
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _convert(model: str, pretrained: str, precision: str, weights: str, out: Path, cache_dir):
    """Trace both towers of the torch fp32 model, save them at ``precision`` into ``out`` with
    their manifest, and check them against torch; returns the manifest."""
    import openvino as ov

    from vad.model.encoder import ClipEncoder

    torch_encoder = ClipEncoder(model, pretrained, "cpu", "fp32", memo_dir=cache_dir)
    log.info("exporting %s (%s) to OpenVINO at %s once; later runs reuse it", model,
             torch_encoder.pretrained_label, precision)  # fmt: skip
    pre = torch_encoder.preprocess
    image, text, context, trim = _trace_towers(torch_encoder)
    size = (int(pre.size[0]), int(pre.size[1]))
    pixels = synthetic_images(8, size, seed=1)
    expected_images = torch_encoder.encode_images(pre.normalize(pixels))
    expected_texts = torch_encoder.encode_text(TEST_TEXTS)
    if precision == "int8":
        image = _quantize(image, pre, size)
    compress = precision in ("bf16", "fp16", "int8")
    ov.save_model(image, str(out / "image.xml"), compress_to_fp16=compress)
    ov.save_model(text, str(out / "text.xml"), compress_to_fp16=compress)
    manifest = {
        "format": EXPORT_VERSION,
        "model": model,
        "pretrained": pretrained,
        "weights": weights,
        "pretrained_label": torch_encoder.pretrained_label,
        "random_weights": bool(torch_encoder.random_weights),
        "precision": precision,
        "preprocess": pre.to_dict(),
        "logit_scale": torch_encoder.logit_scale,
        "text": {"context_length": context, "trimmed": trim},
        "versions": {
            "openvino": package_version("openvino"),
            "open_clip": package_version("open_clip_torch"),
            "torch": package_version("torch"),
        },
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    check = OpenVINOEncoder(out, precision)
    check._tokenizer = torch_encoder.tokenizer
    image_cos = _cosines(check.encode_images(pre.normalize(pixels)), expected_images)
    text_cos = _cosines(check.encode_text(TEST_TEXTS), expected_texts)
    manifest["agreement"] = {
        "against": "torch fp32",
        "images": len(pixels),
        "image_min_cos": round(float(image_cos.min()), 6),
        "texts": len(TEST_TEXTS),
        "text_min_cos": round(float(text_cos.min()), 6),
    }
    _judge_agreement(model, precision, image_cos, text_cos, torch_encoder.random_weights)
    return manifest


def _trace_towers(torch_encoder) -> tuple:
    """``(image, text, context_length, trimmed)``: both towers of a torch encoder converted to
    OpenVINO models, each ending in the L2 normalisation (the text tower takes token batches of
    any length when the model allows trimming its padding)."""
    import openvino as ov
    import torch
    import torch.nn.functional as F

    from vad.model.encoder import encode_text_prefix, trimmable

    clip = torch_encoder.model
    h, w = torch_encoder.preprocess.size
    trim = trimmable(clip)

    class ImageTower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.clip = clip

        def forward(self, pixels):
            return F.normalize(self.clip.encode_image(pixels), dim=-1)

    class TextTower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.clip = clip

        def forward(self, tokens):
            feats = encode_text_prefix(self.clip, tokens) if trim else self.clip.encode_text(tokens)
            return F.normalize(feats, dim=-1)

    context = int(torch_encoder.tokenizer(["a"]).shape[1])
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # its fused op has no conversion (open_clip#186)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes it treats as fixed
            image = ov.convert_model(
                ImageTower().eval(),
                example_input=torch.zeros(2, 3, h, w),
                input=[ov.PartialShape([-1, 3, h, w])],
            )
            example_tokens = torch_encoder.tokenizer(TEST_TEXTS[:2])
            if trim:
                example_tokens = example_tokens[:, :8]
            text = ov.convert_model(
                TextTower().eval(),
                example_input=example_tokens,
                input=[(ov.PartialShape([-1, -1 if trim else context]), ov.Type.i64)],
            )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return image, text, context, trim


def _judge_agreement(
    model: str, precision: str, image_cos: np.ndarray, text_cos: np.ndarray, random_weights: bool
) -> None:
    """int8: report the agreement (experimental, never refused); any other precision must
    reach :data:`MIN_AGREEMENT` on both towers, else RuntimeError (the caller falls back)."""
    what = f"{model} at {precision}: embedding cosine to torch fp32 min {image_cos.min():.5f}"
    if precision == "int8":
        log.warning(
            "int8 (NNCF post-training quantisation, experimental) of %s, images %s; "
            "text %.5f. Measured on synthetic images%s", model, what.split(": ", 1)[1],
            text_cos.min(), " and random weights" if random_weights else "",
        )  # fmt: skip
    elif min(image_cos.min(), text_cos.min()) < MIN_AGREEMENT:
        raise RuntimeError(
            f"the export disagrees with torch ({what}, text {text_cos.min():.5f}; "
            f"at least {MIN_AGREEMENT} is required)"
        )


def _quantize(image, pre: Preprocess, size: tuple[int, int]):
    """The image tower with int8 weights and activations (NNCF post-training quantisation,
    calibrated on synthetic images: no data set ships with vad)."""
    import nncf

    nncf.set_log_level(logging.ERROR)
    calibration = [pre.normalize(x[None]) for x in synthetic_images(64, size, seed=7)]
    return nncf.quantize(
        image,
        nncf.Dataset(calibration),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(calibration),
    )

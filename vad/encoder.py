"""The torch runtime: OpenCLIP model loading (tags, checkpoint files, ``local-dir:``,
``hf-hub:``) and L2-normalised image / text embeddings as numpy arrays. Preprocessing lives in
:mod:`vad.preprocess` (no torch), the choice of runtime in :mod:`vad.runtime`, the OpenVINO
runtime in :mod:`vad.openvino_encoder`.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import socket
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vad.devices import check_available, parse_device
from vad.errors import BadCheckpoint, EncoderFailure, UnknownModel, WeightsUnavailable
from vad.modelid import encoder_identity, pretrained_label, weight_files
from vad.preprocess import Preprocess

log = logging.getLogger(__name__)
__all__ = ["BadCheckpoint", "ClipEncoder", "Preprocess", "WeightsUnavailable", "load_openclip"]

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
HUB_HOST = ("huggingface.co", 443)


def _checkpoint_problem(exc: BaseException) -> str:
    """One line saying why a checkpoint did not load; a refused pickle says so plainly."""
    import pickle

    text = str(exc)
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return (
            f"refused: it holds a pickled Python object ({found.group(1)}), not only tensors, "
            "and loading it could run code; use a .safetensors file or a state_dict of tensors"
        )
    if isinstance(exc, pickle.UnpicklingError):
        return "cannot load it: not a valid PyTorch checkpoint (torch.load rejects its contents)"
    lines = text.strip().splitlines()
    return f"cannot load it ({lines[0][:200] if lines else type(exc).__name__})"


def check_checkpoint_is_safe(path: Path) -> None:
    """Load a ``.pt/.bin/.pth`` checkpoint with ``torch.load(weights_only=True)``, which
    refuses anything but tensors and plain containers; raises :class:`BadCheckpoint`.
    Used when the installed open_clip cannot be told ``weights_only=True`` itself."""
    if path.suffix == ".safetensors":
        return
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means: do not hand it to open_clip
        raise BadCheckpoint(f"{path}: {_checkpoint_problem(exc)}") from exc


def preprocess_of(model) -> Preprocess:
    """The model's eval transform (open_clip's preprocess config) as a :class:`Preprocess`."""
    import open_clip

    return Preprocess.from_config(open_clip.get_model_preprocess_cfg(model))


def resolve_device(device: str = "auto") -> torch.device:
    """``device`` (:mod:`vad.devices`) as a torch device this process can use (``auto``: the
    GPU where there is one); :class:`~vad.devices.DeviceError` names the GPUs there are."""
    parsed = parse_device(device)
    if parsed.kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gpus = torch.cuda.device_count() if parsed.kind == "cuda" and torch.cuda.is_available() else 0
    return torch.device(str(check_available(parsed, gpus)))


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: fp32 on a CPU; on a GPU, bf16 where it computes bf16 natively (compute
    capability 8.0 on: A100, H100, H200, RTX 30/40), else fp16 (V100, T4)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {PRECISIONS}")
    if device.type != "cuda":
        return "fp32"  # half precision on CPU is slower and less accurate
    if precision == "auto":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return "bf16" if torch.cuda.get_device_capability(index) >= (8, 0) else "fp16"
    return precision


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _weights_cached(model_name: str, tag: str, cache_dir: str | None) -> bool:
    """True when open_clip would find the tag's weights without the network."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model_name, tag)
    if not cfg:
        return False
    if "file" in cfg:
        return Path(cfg["file"]).is_file()
    hub = cfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(hub)
        names = [filename] if filename else []
        names += ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        for name in names:
            hit = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
            if isinstance(hit, str) and Path(hit).is_file():
                return True
    url = cfg.get("url", "")
    if url:
        root = cache_dir or os.path.expanduser("~/.cache/clip")
        if (Path(root) / os.path.basename(url)).is_file():
            return True
    return False


def _marked_random(folder: Path) -> bool:
    """Whether a model folder's ``open_clip_config.json`` says its weights are random
    (``"random_weights": true``, written by :func:`vad.testing.make_tiny_model_dir`)."""
    import json

    try:
        config = json.loads((folder / "open_clip_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("random_weights") is True


def _hub_config_cached(repo_id: str, cache_dir: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(repo_id, "open_clip_config.json", cache_dir=cache_dir)
    return isinstance(hit, str)


def _how_to_supply(model_name: str, tag: str | None) -> WeightsUnavailable:
    """The error for weights that are neither cached nor downloadable, with what to do in the
    Python API's words and in the command line's."""
    what = f"{model_name} ({tag})" if tag else model_name
    problem = f"pretrained weights for {what} are not cached and the model hub is unreachable"
    fill = "or run once with network access to fill the cache"
    return WeightsUnavailable(
        f"{problem}; supply them with Detector(pretrained='/path/to/checkpoint.safetensors'), "
        "Detector(model='local-dir:/path/to/folder') (open_clip_config.json + weights), "
        f"{fill}",
        cli_message=f"{problem}; supply them with --pretrained /path/to/checkpoint.safetensors, "
        "--model local-dir:/path/to/folder (open_clip_config.json + weights), "
        f"{fill}",
    )


def load_openclip(
    model_name: str,
    pretrained: str | None,
    device: torch.device,
    precision: str = "fp32",
    cache_dir: str | None = None,
):
    """Create an OpenCLIP model, checking the weights are obtainable before any download.

    ``pretrained`` is an open_clip tag (``openai``), a checkpoint file, or ``None``/``"none"``
    for random initialisation. Returns ``(model, tokenizer, Preprocess)``.
    """
    import open_clip

    schema = (
        "local-dir"
        if model_name.startswith("local-dir:")
        else "hf-hub"
        if model_name.startswith("hf-hub:")
        else None
    )
    kwargs: dict = {"device": device, "precision": precision, "cache_dir": cache_dir}
    tag = None if (pretrained in (None, "", "none") or schema) else pretrained
    checkpoint: Path | None = None  # a weights file (or model folder) the user handed us
    if schema == "local-dir":
        folder = Path(model_name.removeprefix("local-dir:")).expanduser()
        if not (folder / "open_clip_config.json").is_file():
            raise WeightsUnavailable(
                f"{folder}: not an open_clip model folder (open_clip_config.json is missing)"
            )
        model_name = f"local-dir:{folder}"
        checkpoint = folder
    elif schema == "hf-hub":
        repo = model_name.removeprefix("hf-hub:")
        if not _hub_config_cached(repo, cache_dir) and not _hub_reachable():
            raise _how_to_supply(model_name, None)
    elif model_name not in open_clip.list_models():
        raise UnknownModel(
            f"unknown model {model_name!r}; see `vad models` or open_clip.list_models()"
        )
    elif tag is not None:
        if Path(tag).expanduser().is_file():
            checkpoint = Path(tag).expanduser()
            kwargs["pretrained"] = str(checkpoint)
        elif open_clip.get_pretrained_cfg(model_name, tag):
            if not _weights_cached(model_name, tag, cache_dir) and not _hub_reachable():
                raise _how_to_supply(model_name, tag)
            kwargs["pretrained"] = tag
            # OpenAI's checkpoints were trained with QuickGELU; the plain config would silently
            # compute a different function.
            if open_clip.get_pretrained_cfg(model_name, tag).get("quick_gelu", False):
                kwargs["force_quick_gelu"] = True
        else:
            tags = ", ".join(open_clip.list_pretrained_tags_by_model(model_name)) or "none"
            problem = (
                f"{tag!r} is neither a checkpoint file nor a known tag for {model_name} "
                f"(known tags: {tags})"
            )
            raise WeightsUnavailable(f"pretrained={problem}", cli_message=f"--pretrained {problem}")
    # Checkpoints are pickles unless they are safetensors: never unpickle arbitrary objects.
    if "weights_only" in inspect.signature(open_clip.create_model_and_transforms).parameters:
        kwargs["weights_only"] = True
    elif checkpoint is not None:  # an open_clip too old to be told: check the file first
        for path in weight_files(checkpoint) if checkpoint.is_dir() else [checkpoint]:
            check_checkpoint_is_safe(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, _, _ = open_clip.create_model_and_transforms(model_name, **kwargs)
    except Exception as exc:
        if checkpoint is not None:
            raise BadCheckpoint(f"{checkpoint}: {_checkpoint_problem(exc)}") from exc
        if isinstance(exc, (FileNotFoundError, RuntimeError, OSError)) and (
            "download" in str(exc).lower() or "hub" in str(exc).lower()
        ):
            raise _how_to_supply(model_name, tag) from exc
        raise
    model.eval()
    if getattr(model, "logit_scale", None) is not None and model.logit_scale.dtype != torch.float32:
        # open_clip casts timm-based models (PE-Core, SigLIP 2, MobileCLIP 2) to fp16/bf16
        # whole, before loading: the checkpoint's logit scale was rounded (bf16: up to ~1.6 %)
        _restore_logit_scale(model, _weights_file(model_name, tag, checkpoint, cache_dir))
    tokenizer = open_clip.get_tokenizer(model_name)
    return model, tokenizer, preprocess_of(model)


def _weights_file(
    model_name: str, tag: str | None, checkpoint: Path | None, cache_dir: str | None
) -> Path | None:
    """The checkpoint file open_clip loaded (already local: it was just loaded), or None for
    random weights."""
    import open_clip

    if checkpoint is not None and checkpoint.is_file():
        return checkpoint
    if checkpoint is not None:  # a local-dir: folder; open_clip prefers safetensors
        files = sorted(weight_files(checkpoint), key=lambda p: p.suffix != ".safetensors")
        return files[0] if files else None
    if model_name.startswith("hf-hub:"):
        from open_clip.pretrained import download_pretrained_from_hf

        return Path(download_pretrained_from_hf(model_name.removeprefix("hf-hub:"),
                                                cache_dir=cache_dir))  # fmt: skip
    if tag is not None:
        cfg = open_clip.get_pretrained_cfg(model_name, tag)
        return Path(open_clip.download_pretrained(cfg, cache_dir=cache_dir)) if cfg else None
    return None


def _restore_logit_scale(model, path: Path | None) -> None:
    """Put the checkpoint's own fp32 ``logit_scale`` back into a model cast to half precision
    (the towers stay in half; the scale only multiplies similarities, in numpy). Only that one
    tensor is read (safetensors, or a memory-mapped torch checkpoint)."""
    value = None
    try:
        if path is None:
            return
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                if "logit_scale" in f.keys():  # noqa: SIM118 - safe_open is not a dict
                    value = f.get_tensor("logit_scale")
        elif path.suffix in (".bin", ".pt", ".pth"):
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            state = state.get("state_dict", state) if isinstance(state, dict) else {}
            value = state.get("logit_scale", state.get("module.logit_scale"))
    except Exception as exc:  # noqa: BLE001 - the rounded scale still works; say so
        log.debug("%s: logit_scale not re-read in fp32 (%s)", path, exc)
    if value is None:
        log.debug("%s: no fp32 logit_scale to restore; keeping the rounded one", path)
        return
    scale = value.detach().to(model.logit_scale.device, torch.float32)
    model.logit_scale.data = scale.reshape(model.logit_scale.shape)


class _HostCopy:
    """Embeddings on a GPU being copied into pinned host memory, queued on the current stream
    without blocking; :meth:`result` waits for this copy alone (its CUDA event), not for the
    batches queued after it, as ``tensor.cpu()`` would (it blocks until the stream drains)."""

    def __init__(self, feats: torch.Tensor):
        self.host = torch.empty(feats.shape, dtype=feats.dtype, pin_memory=feats.is_cuda)
        self.host.copy_(feats, non_blocking=True)
        self.done = torch.cuda.Event()
        self.done.record()

    def result(self) -> np.ndarray:
        self.done.synchronize()
        return self.host.numpy()


def trimmable(model) -> bool:
    """Whether ``model``'s text tower may be given only the tokens up to the longest text:
    OpenCLIP's CLIP with a causal text transformer that pools at the end-of-text token (the
    positions after it cannot change the result)."""
    import open_clip

    try:
        from open_clip.transformer import text_global_pool  # noqa: F401 - older open_clip
    except ImportError:
        return False
    causal = getattr(model, "attn_mask", None) is not None
    return type(model) is open_clip.CLIP and causal and model.text_pool_type == "argmax"


def encode_text_prefix(model, tokens: torch.Tensor) -> torch.Tensor:
    """``model.encode_text`` for tokens already cut to the longest text's length (a
    :func:`trimmable` model only): the positions past it are left out of the transformer."""
    from open_clip.transformer import text_global_pool

    n = tokens.shape[1]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype)
    x = x + model.positional_embedding[:n].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:n, :n])
    x = model.ln_final(x)
    x = text_global_pool(x, tokens, model.text_pool_type)
    if model.text_projection is not None:
        if isinstance(model.text_projection, torch.nn.Linear):
            x = model.text_projection(x)
        else:
            x = x @ model.text_projection
    return x


def _encode_text_trimmed(model, tokens: torch.Tensor) -> torch.Tensor:
    """``model.encode_text`` on the tokens up to the longest text instead of all 77 positions
    (several times faster for prompt banks' short texts); models of another design go through
    ``encode_text`` unchanged."""
    if not trimmable(model):
        return model.encode_text(tokens)
    n = int((tokens != 0).sum(dim=1).max().item())
    return encode_text_prefix(model, tokens[:, :n])


class ClipEncoder:
    """OpenCLIP image and text encoder returning L2-normalised float32 numpy embeddings.

    Parameters
    ----------
    model : open_clip model name, ``local-dir:PATH`` or ``hf-hub:ORG/REPO``.
    pretrained : open_clip tag, checkpoint file, or ``"none"`` (random weights; scores are then
        meaningless - for speed tests only).
    device : ``auto``, ``cpu`` or ``cuda``.
    precision : ``auto`` (fp16 on GPU, fp32 on CPU), ``fp32``, ``fp16`` or ``bf16``.
    cache_dir : open_clip's weights cache (``None``: its default).
    memo_dir : where checkpoint hashes are remembered between processes (vad's cache folder;
        ``None``: hashed once per process).
    """

    runtime = "torch"

    def __init__(
        self,
        model: str = "ViT-B-16",
        pretrained: str | None = "openai",
        device: str = "auto",
        precision: str = "auto",
        cache_dir: str | None = None,
        memo_dir: str | Path | None = None,
    ):
        self.memo_dir = memo_dir
        self.model_name = model
        self.pretrained = pretrained or "none"
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.random_weights = False
        if self.pretrained == "none" and not model.startswith(("local-dir:", "hf-hub:")):
            self.random_weights = True
            log.warning(
                "model %s has RANDOM weights (--pretrained none): scores are meaningless; "
                "use this for speed tests only",
                model,
            )
        # Random initialisation is seeded, so "random weights" are the same weights every run
        # and their embeddings can be cached like any other model's.
        with torch.random.fork_rng(devices=[]):
            # the CPU generator only, where open_clip initialises (torch.manual_seed would
            # reseed every CUDA generator of the process too, for good: fork_rng([]) restores
            # only the CPU's)
            torch.random.default_generator.manual_seed(0)
            self.model, self.tokenizer, self.preprocess = load_openclip(
                model, self.pretrained, self.device, self.precision, cache_dir
            )
        self.cacheable = True
        if model.startswith("local-dir:"):
            folder = Path(model.removeprefix("local-dir:")).expanduser()
            self.random_weights = not weight_files(folder)
            if self.random_weights:
                log.warning("%s holds no weights file: RANDOM weights, meaningless scores", folder)
            elif _marked_random(folder):  # e.g. vad.testing's tiny models
                self.random_weights = True
                log.warning("%s: its weights are RANDOM (its config says so): meaningless "
                            "scores", folder)  # fmt: skip
        self.pretrained_label = pretrained_label(model, self.pretrained)
        self.logit_scale = float(self.model.logit_scale.exp().clamp(max=100).item())
        self.input_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(
            self.precision, torch.float32
        )
        self._mean_std: tuple[torch.Tensor, torch.Tensor] | None = None

    @torch.inference_mode()
    def encode_images(self, pixels: np.ndarray | torch.Tensor) -> np.ndarray:
        """Preprocessed pixels (N,3,h,w) -> normalised embeddings (N,D) float32."""
        with self._memory(f"encoding a batch of {len(pixels)} frames"):
            pixels = torch.as_tensor(pixels)
            pixels = pixels.to(self.device, dtype=self.input_dtype, non_blocking=True)
            feats = self.model.encode_image(pixels)
            feats = F.normalize(feats.float(), dim=-1)
            return self._finite(feats.cpu().numpy(), "frames")

    @torch.inference_mode()
    def submit_pixels(self, pixels: np.ndarray | torch.Tensor) -> torch.Tensor | _HostCopy:
        """Start encoding uint8 pixels at model size (N,3,h,w), as the decode worker makes them;
        pass what it returns to :meth:`collect`.

        On a GPU the uint8 batch (a quarter of the float bytes) is copied from pinned memory
        without blocking and normalised on the device, and its embeddings are copied back into
        pinned memory without blocking too (:class:`_HostCopy`): nothing waits for the GPU, so
        the next batch is queued before this one is collected and the GPU never idles between
        batches. On the CPU this is ``encode_images(preprocess.normalize(pixels))``, computed
        now."""
        x = torch.as_tensor(pixels)
        with self._memory(f"encoding a batch of {len(x)} frames"):
            if self.device.type == "cuda":
                x = x.pin_memory().to(self.device, non_blocking=True)
            if self._mean_std is None:  # made once: a per-batch host-to-device copy would block
                shape = (1, 3, 1, 1)
                self._mean_std = (
                    torch.tensor(self.preprocess.mean, device=self.device).view(shape),
                    torch.tensor(self.preprocess.std, device=self.device).view(shape),
                )
            mean, std = self._mean_std
            x = ((x.float().div_(255.0) - mean) / std).to(self.input_dtype)  # as normalize()
            feats = F.normalize(self.model.encode_image(x).float(), dim=-1)
            return _HostCopy(feats) if feats.is_cuda else feats

    def collect(self, pending: torch.Tensor | _HostCopy) -> np.ndarray:
        """The (N,D) float32 numpy embeddings of a :meth:`submit_pixels` result: waits for that
        batch alone (on a GPU, its copy's event; not the batches queued after it)."""
        out = pending.result() if isinstance(pending, _HostCopy) else pending.cpu().numpy()
        return self._finite(out, "frames")

    def encode_frames(self, frames: np.ndarray) -> np.ndarray:
        """uint8 RGB frames (N,H,W,3) -> normalised embeddings (N,D) float32."""
        return self.encode_images(self.preprocess(frames))

    @torch.inference_mode()
    def encode_text(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Texts -> normalised embeddings (len(texts), D) float32."""
        out = []
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            with self._memory(f"encoding {len(batch)} texts at once"):
                tokens = self.tokenizer(batch).to(self.device)
                feats = _encode_text_trimmed(self.model, tokens)
                out.append(self._finite(F.normalize(feats.float(), dim=-1).cpu().numpy(), "texts"))
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    @contextlib.contextmanager
    def _memory(self, doing: str):
        """The device running out of memory stops the run (:class:`EncoderFailure`): every
        later batch would run out too, and each video would fail on its own."""
        try:
            yield
        except torch.cuda.OutOfMemoryError as exc:  # torch.OutOfMemoryError in torch >= 2.5
            log.debug("out of memory: %s", exc)
            where = f"the GPU ({self.device})" if self.device.type == "cuda" else "the CPU"
            raise EncoderFailure(
                f"{where} ran out of memory {doing} with {self.model_name} at {self.precision}: "
                "give a smaller --batch-size (or a smaller model, or another GPU)"
            ) from None

    def _finite(self, embeddings: np.ndarray, what: str) -> np.ndarray:
        """``embeddings``, or :class:`EncoderFailure` where any is NaN or infinite (they would
        make every score NaN)."""
        finite = np.isfinite(embeddings).all(axis=1)
        if finite.all():
            return embeddings
        hint = {
            "fp16": "its activations overflow in fp16: use --precision bf16 or fp32",
            "bf16": "use --precision fp32",
        }.get(self.precision, "check the weights (the checkpoint may hold NaN or infinity)")
        raise EncoderFailure(
            f"{self.model_name} gave non-finite embeddings (NaN or infinity) for "
            f"{int((~finite).sum())} of {len(embeddings)} {what} at {self.precision} on "
            f"{self.device}: {hint}"
        )

    def identity(self) -> dict:
        """What determines the embeddings: used for cache keys. Weights given as files are
        identified by their content, so replacing a checkpoint invalidates the caches."""
        return encoder_identity(self)

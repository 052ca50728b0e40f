"""What identifies a model's weights, without loading them (nor importing torch or open_clip):
the open_clip tag, or the content of the checkpoint files (so replacing a checkpoint changes
every cache key made from it), and how outputs label them.

Hashing a large checkpoint takes a second or more; the hash is remembered on disk under the
cache folder, keyed by the file's identity, size and modification and change times (any write
changes the change time, which no tool can set back), so a later process does not read it again.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pth")


def weight_files(folder: Path) -> list[Path]:
    """Checkpoint files in a ``local-dir:`` model folder (what open_clip would look for)."""
    return sorted(p for pat in WEIGHT_PATTERNS for p in Path(folder).glob(pat))


def package_version(name: str) -> str:
    """An installed distribution's version, read from its metadata (no import)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "none"


def remembered_hash(path: Path, cache_dir: str | Path | None) -> str:
    """:func:`vad.cache.content_hash` of ``path``, remembered under ``cache_dir/file-hashes``
    by the file's signature (without ``cache_dir``: in this process only)."""
    from vad.cache import content_hash, file_signature

    if cache_dir is None:
        return content_hash(path)
    signature = json.dumps([str(x) for x in file_signature(path)])
    memo = Path(cache_dir) / "file-hashes" / f"{hashlib.sha256(signature.encode()).hexdigest()}"
    try:
        known = memo.read_text().strip()
        if len(known) == 40:
            return known
    except OSError:
        pass
    digest = content_hash(path)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f".{memo.name}.{os.getpid()}.tmp")
        tmp.write_text(digest)
        tmp.replace(memo)
    except OSError:
        pass
    return digest


def random_weights_identity() -> str:
    """Seeded random initialisation: the same weights for the same library versions."""
    return (
        f"random-seed0-torch{package_version('torch')}-"
        f"open_clip{package_version('open_clip_torch')}"
    )


def weights_identity(model: str, pretrained: str | None, cache_dir=None) -> str:
    """What the weights are, for cache keys: the open_clip tag, or the content hashes of the
    checkpoint files (and of a ``local-dir:`` folder's config), or the random seed."""
    pretrained = pretrained or "none"
    if model.startswith("local-dir:"):
        folder = Path(model.removeprefix("local-dir:")).expanduser()
        files = weight_files(folder)
        if not files:
            weights = random_weights_identity()
        else:
            weights = ",".join(remembered_hash(p, cache_dir) for p in files)
        config = folder / "open_clip_config.json"
        if config.is_file():
            weights += f";config={remembered_hash(config, cache_dir)}"
        return weights
    if model.startswith("hf-hub:"):
        return "hf-hub"
    if Path(pretrained).expanduser().is_file():
        return remembered_hash(Path(pretrained).expanduser(), cache_dir)
    if pretrained == "none":
        return random_weights_identity()
    return pretrained


def pretrained_label(model: str, pretrained: str | None) -> str:
    """What the weights are, for outputs: the tag, the file name, or the model folder's."""
    if model.startswith("local-dir:"):
        files = weight_files(Path(model.removeprefix("local-dir:")).expanduser())
        return files[0].name if files else "none"
    if model.startswith("hf-hub:"):
        return "hf-hub"
    return pretrained or "none"


def encoder_identity(encoder) -> dict:
    """What determines an encoder's embeddings, for cache keys: the model, its weights'
    identity (:func:`weights_identity`: a replaced checkpoint invalidates the caches), the
    preprocessing, the runtime and the precision. Shared by every runtime's encoder."""
    return {
        "model": encoder.model_name,
        "pretrained": weights_identity(encoder.model_name, encoder.pretrained, encoder.memo_dir),
        "preprocess": encoder.preprocess.key(),
        "runtime": encoder.runtime,
        "precision": encoder.precision,
    }

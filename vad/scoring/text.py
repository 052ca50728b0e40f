"""The text side of scoring: :class:`TextEmbeddings`, a prompt bank's descriptions encoded
once (normalised, float32 M,D, with their scene and normal/anomalous groups), and their cache
on disk (:func:`text_cache_key`, :func:`load_or_build_text`), so a warm run never loads the
text tower. :func:`bank_texts` lists the texts a bank is encoded as."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vad.model.prompts import NA_VERSION, REPULSIVE, Description, PromptBank

log = logging.getLogger(__name__)


@dataclass
class TextEmbeddings:
    """Embeddings of a prompt bank for one model: scenes (S,D) and descriptions (M,D), with
    each description's group (anomalous or not) and scene index (-1 = global)."""

    scenes: np.ndarray
    descriptions: np.ndarray
    anomalous: np.ndarray
    scene_index: np.ndarray
    labels: list[str]
    classes: np.ndarray | None = None  # (M,) class index into class_names, -1 = none
    class_names: tuple[str, ...] = ()
    # (M,) the classless normals that join every class's normal pool: all of them in version
    # 1-2 banks; a version 3 bank's scene normals only (its shared normals join no class's pool)
    shared_normal: np.ndarray | None = None

    def __post_init__(self):
        if self.classes is None:
            self.classes = np.full(len(self.labels), -1, dtype=np.int64)
        if self.shared_normal is None:
            self.shared_normal = ~np.asarray(self.anomalous, bool) & (self.classes < 0)

    @classmethod
    def build(cls, bank: PromptBank, encode_text, repulsive: bool = False) -> TextEmbeddings:
        """Encode every template text once; average each ensemble as in CLIP's zero-shot recipe.
        ``repulsive`` wraps every description in NOVA's "Normal scene: " / "Anomalous scene: "."""
        descs: list[Description] = bank.descriptions()
        groups = [bank.scene_texts(s) for s in bank.scenes] + [
            list(d.wrapped() if repulsive else d.texts) for d in descs
        ]
        flat = [t for g in groups for t in g]
        emb = encode_text(flat)
        means, start = [], 0
        for g in groups:
            means.append(emb[start : start + len(g)].mean(axis=0))
            start += len(g)
        means = np.stack(means).astype(np.float32)
        means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        s = len(bank.scenes)
        names = bank.scene_names
        shared_normal = None
        if bank.version >= NA_VERSION:  # NOVA's pools: a class's own normals (+ the scene's)
            shared_normal = np.array(
                [not d.anomalous and d.cls is None and d.scene is not None for d in descs], bool
            )
        return cls(
            scenes=means[:s],
            descriptions=means[s:],
            anomalous=np.array([d.anomalous for d in descs], dtype=bool),
            scene_index=np.array(
                [-1 if d.scene is None else names.index(d.scene) for d in descs], dtype=np.int64
            ),
            labels=[d.label for d in descs],
            classes=np.array(
                [-1 if d.cls is None else bank.classes.index(d.cls) for d in descs], np.int64
            ),
            class_names=tuple(bank.classes),
            shared_normal=shared_normal,
        )

    def save(self, path: Path) -> None:
        """Store as a plain ``.npz`` (no pickle), written atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")  # unique per process
        np.savez(
            tmp,
            scenes=self.scenes,
            descriptions=self.descriptions,
            anomalous=self.anomalous,
            scene_index=self.scene_index,
            labels=np.array(self.labels, dtype=np.str_),
            classes=self.classes,
            class_names=np.array(self.class_names, dtype=np.str_),
            shared_normal=self.shared_normal,
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> TextEmbeddings:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                scenes=z["scenes"],
                descriptions=z["descriptions"],
                anomalous=z["anomalous"],
                scene_index=z["scene_index"],
                labels=[str(x) for x in z["labels"]],
                classes=z["classes"] if "classes" in z.files else None,
                class_names=tuple(str(x) for x in z["class_names"])
                if "class_names" in z.files
                else (),
                shared_normal=z["shared_normal"] if "shared_normal" in z.files else None,
            )


def text_cache_key(bank: PromptBank, identity: dict, repulsive: bool = False) -> str:
    """The bank's text-embedding cache entry for an encoder: the runtime and precision are part
    of it, so fp16 and fp32 (or OpenVINO and torch) prompt embeddings never mix."""
    raw = (
        f"{bank.fingerprint()}|{identity['model']}|{identity['pretrained']}|"
        f"{identity.get('runtime', 'torch')}|{identity.get('precision', 'fp32')}"
    )
    if repulsive:  # the prefixes are part of the texts: other prefixes, other embeddings
        raw += f"|repulsive|{REPULSIVE[True]}|{REPULSIVE[False]}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def load_or_build_text(
    bank: PromptBank, encoder, cache_dir: Path | None, repulsive: bool = False
) -> TextEmbeddings:
    """Text embeddings for ``bank`` and ``encoder``, from the on-disk cache when present."""
    identity = encoder.identity()
    # Only encoders that can identify their weights (ClipEncoder) are cached, never stand-ins.
    cacheable = cache_dir is not None and getattr(encoder, "cacheable", False)
    path = None
    if cacheable:
        path = Path(cache_dir) / "text" / f"{text_cache_key(bank, identity, repulsive)}.npz"
        if path.is_file():
            try:
                return TextEmbeddings.load(path)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("ignoring unreadable text-embedding cache %s (%s)", path, exc)
    log.info(
        "encoding prompt bank '%s' for %s (%d texts)%s",
        bank.name,
        identity["model"],
        bank.num_texts,
        "; later runs read it from the cache" if path is not None else "",
    )
    warn_long_texts(bank, encoder, repulsive)
    text = TextEmbeddings.build(bank, encoder.encode_text, repulsive)
    if path is not None:
        try:
            text.save(path)
        except OSError as exc:
            log.warning("cannot write text-embedding cache %s (%s)", path, exc)
    return text


def warn_long_texts(bank: PromptBank, encoder, repulsive: bool = False) -> int:
    """Log once how many of the bank's texts exceed the model's text context (they would be
    cut by the tokenizer); returns that count. Encoders without a tokenizer are skipped."""
    tokenizer = getattr(encoder, "tokenizer", None)
    context = getattr(tokenizer, "context_length", None)
    if tokenizer is None or not context:
        return 0
    from vad.model.prompts import token_counts

    texts = bank_texts(bank, repulsive)
    counts = token_counts(texts, tokenizer)
    long = [t for t, n in zip(texts, counts, strict=True) if n > context]
    if long:
        log.warning(
            "%d of %d texts of prompt bank '%s' are longer than the model's text context "
            "(%d tokens) and are cut; e.g. %r (vad prompts --check %s --model ...)",
            len(long),
            len(texts),
            bank.name,
            context,
            long[0],
            bank.name,
        )
    return len(long)


def bank_texts(bank: PromptBank, repulsive: bool = False) -> list[str]:
    """Every text the encoder sees for ``bank``."""
    texts = [t for s in bank.scenes for t in bank.scene_texts(s)]
    for d in bank.descriptions():
        texts += d.wrapped() if repulsive else d.texts
    return texts

"""Scene context: which scene of the prompt bank the camera is looking at.

``auto`` classifies a context embedding - a robust mean of the frame embeddings over the whole
video, or over a sliding window for long or moving-camera footage - zero-shot against the
bank's scene descriptions and keeps the whole posterior. A fixed context is free text: a scene
name or alias selects that scene; other text is matched to the bank's scenes by text
similarity. ``none`` disables context (the plain zero-shot CLIP baseline).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vad.model.prompts import PromptBank


def _normalize(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def robust_mean(embeddings: np.ndarray, trim: float = 0.2) -> np.ndarray:
    """Unit-norm mean direction of ``embeddings`` (N,D), ignoring the ``trim`` fraction of rows
    least like the plain mean (passers-by, glitches, the anomaly itself).

    >>> e = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> np.round(robust_mean(e, trim=0.25), 3).tolist()
    [1.0, 0.0]
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    mean = _normalize(embeddings.mean(axis=0))
    keep = len(embeddings) - int(np.floor(trim * len(embeddings)))
    if keep < len(embeddings) and keep > 0:
        sims = embeddings @ mean
        idx = np.argsort(-sims)[:keep]
        mean = _normalize(embeddings[idx].mean(axis=0))
    return mean


def context_embeddings(
    frame_embeddings: np.ndarray, times: np.ndarray, window_s: float | None = None
) -> np.ndarray:
    """One context embedding per sampled frame (N,D).

    Without a window every frame shares the video's robust mean; with ``window_s`` each frame
    gets the robust mean of the frames within ``window_s / 2`` seconds of it.
    """
    n = len(frame_embeddings)
    if not window_s or window_s <= 0:
        return np.repeat(robust_mean(frame_embeddings)[None], n, axis=0)
    times = np.asarray(times)
    lo = np.searchsorted(times, times - window_s / 2, side="left")
    hi = np.searchsorted(times, times + window_s / 2, side="right")
    return np.stack([robust_mean(frame_embeddings[a:b]) for a, b in zip(lo, hi, strict=True)])


def scene_posterior(
    context: np.ndarray, scene_embeddings: np.ndarray, logit_scale: float
) -> np.ndarray:
    """Zero-shot scene classification: softmax over scenes at the model's logit scale.
    ``context`` is (D,) or (N,D); the result is (S,) or (N,S)."""
    return softmax(logit_scale * (np.asarray(context) @ scene_embeddings.T))


@dataclass
class Context:
    """The context a video is scored in.

    ``mode`` is ``auto``, ``fixed`` or ``none``; ``posterior`` is (S,) or per-sample (N,S) over
    the bank's scenes (None for ``none``)."""

    mode: str
    posterior: np.ndarray | None
    text: str | None = None

    def summary(self, bank: PromptBank, top: int = 5) -> dict:
        """JSON-ready description: the scene, its probability and the top of the posterior."""
        if self.posterior is None:
            return {"mode": "none", "scene": None, "probability": None, "posterior": {}}
        post = self.posterior if self.posterior.ndim == 1 else self.posterior.mean(axis=0)
        order = np.argsort(-post)[:top]
        out = {
            "mode": self.mode,
            "scene": bank.scenes[order[0]].name,
            "probability": round(float(post[order[0]]), 4),
            "posterior": {bank.scenes[i].name: round(float(post[i]), 4) for i in order},
        }
        if self.text is not None:
            out["text"] = self.text
        if self.posterior.ndim == 2:
            out["windowed"] = True
        return out


def fixed_context(
    text: str,
    bank: PromptBank,
    scene_embeddings: np.ndarray,
    encode_text,
    logit_scale: float,
    top_k: int = 3,
) -> Context:
    """Context from the user's text: an exact scene name/alias wins outright; other text is
    matched to the closest ``top_k`` scenes by text-to-text similarity."""
    scene = bank.find_scene(text)
    posterior = np.zeros(len(bank.scenes))
    if scene is not None:
        posterior[bank.scene_names.index(scene.name)] = 1.0
        return Context("fixed", posterior, text)
    query = _normalize(
        np.mean(encode_text([t.format(scene=text) for t in bank.scene_templates]), 0)
    )
    post = scene_posterior(query, scene_embeddings, logit_scale)
    keep = np.argsort(-post)[:top_k]
    posterior[keep] = post[keep] / post[keep].sum()
    return Context("fixed", posterior, text)

"""Scoring: the probability that a sampled frame shows something anomalous *for its scene*.

For a scene s, the frame is compared with the scene's descriptions plus the global ones. With
``l = logit_scale * cos(frame, description)``, the anomaly probability is a two-way softmax
between the anomalous and the normal group, each group's evidence being the mean of ``exp(l)``
over its members (so a group is not favoured for merely having more descriptions)::

    p_s = sigmoid( LSE(l[A_s]) - log|A_s|  -  LSE(l[N_s]) + log|N_s| )

The frame's score is the posterior-weighted mixture ``sum_s pi_s * p_s``; without context only
the global descriptions are used, which is the plain zero-shot CLIP baseline.

That two-way softmax is the ``softmax`` head; :func:`score_samples` runs any head of
:mod:`vad.scoring.heads` (margin, knn-vote), the anchor (NOVA's warm-up anchor,
:func:`warmup_anchor`, or the trimmed mean) and in-video kNN refinement;
:func:`to_probabilities` turns the head's values into probabilities, applies NOVA's motion gate
and a camera calibration's adjustment, and smooths the result - one recipe for ``vad score``,
``vad eval``, ``vad watch`` and ``--calibration``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import expit

from vad.scoring.explain import ScoreComponents
from vad.scoring.heads import (
    Scoring,
    knn_graph,
    knn_refine,
    logsumexp_rows,
    mix_values,
    nova_anchor,
    scope_values,
    video_anchor,
    warmup_weights,
)
from vad.scoring.text import TextEmbeddings


def _group_evidence(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """log of the mean of exp(logits) over the masked columns, per row."""
    return logsumexp_rows(logits[:, mask]) - np.log(mask.sum())


def scene_anomaly_probabilities(
    frame_embeddings: np.ndarray,
    text: TextEmbeddings,
    logit_scale: float,
    with_scenes: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-scene anomaly probabilities (N,S) and the context-free probability (N,); without
    ``with_scenes`` the per-scene part is empty (N,0) (scoring without context needs none).

    >>> t = TextEmbeddings(
    ...     scenes=np.eye(3)[:1], descriptions=np.eye(3), anomalous=np.array([False, True, True]),
    ...     scene_index=np.array([-1, -1, 0]), labels=["walk", "fight", "run"])
    >>> per_scene, context_free = scene_anomaly_probabilities(np.eye(3)[[0]], t, 10.0)
    >>> bool(per_scene[0, 0] < 0.5 and context_free[0] < 0.5)
    True
    """
    logits = logit_scale * (np.asarray(frame_embeddings, np.float64) @ text.descriptions.T)
    is_global = text.scene_index < 0
    base_anom = is_global & text.anomalous
    base_norm = is_global & ~text.anomalous
    context_free = _two_group_probability(logits, base_anom, base_norm)
    per_scene = np.empty((len(logits), len(text.scenes) if with_scenes else 0))
    for s in range(per_scene.shape[1]):
        in_scene = text.scene_index == s
        per_scene[:, s] = _two_group_probability(
            logits,
            base_anom | (in_scene & text.anomalous),
            base_norm | (in_scene & ~text.anomalous),
        )
    return per_scene, context_free


def _two_group_probability(logits: np.ndarray, anom: np.ndarray, norm: np.ndarray) -> np.ndarray:
    if not anom.any():
        return np.zeros(len(logits))
    if not norm.any():
        return np.ones(len(logits))
    return expit(_group_evidence(logits, anom) - _group_evidence(logits, norm))


def mix_context(
    per_scene: np.ndarray, context_free: np.ndarray, posterior: np.ndarray | None
) -> np.ndarray:
    """Posterior-weighted anomaly probability per frame; ``posterior`` None = no context."""
    if posterior is None:
        return context_free
    if posterior.ndim == 1:
        return per_scene @ posterior
    return np.einsum("ns,ns->n", per_scene, posterior)


def top_anomalous_descriptions(
    frame_embeddings: np.ndarray, text: TextEmbeddings, posterior: np.ndarray | None, k: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """For each frame, the ``k`` anomalous descriptions in scope that it matches best:
    returns indices into ``text.labels`` (N,k) and cosine similarities (N,k).

    In scope: the global anomalous descriptions, plus those of scenes holding at least 10% of
    the posterior (or of the most likely scene)."""
    sims = np.asarray(frame_embeddings, np.float64) @ text.descriptions.T
    scope = text.anomalous & (text.scene_index < 0)
    if posterior is not None:
        post = posterior if posterior.ndim == 1 else posterior.mean(axis=0)
        scenes = set(np.flatnonzero(post >= 0.1)) | {int(np.argmax(post))}
        scope = scope | (text.anomalous & np.isin(text.scene_index, list(scenes)))
    cols = np.flatnonzero(scope)
    k = min(k, len(cols))
    order = np.argsort(-sims[:, cols], axis=1)[:, :k]
    idx = cols[order]
    return idx, np.take_along_axis(sims, idx, axis=1)


MAX_DENSE_DESCRIPTIONS = 20_000


MIN_SCENE_WEIGHT = 1e-3


@dataclass(frozen=True)
class WarmupAnchor:
    """NOVA's visual normality anchor of one video or stream (eqs. 6-7): the unit vector (D,),
    the warm-up samples' preliminary (anchor-free) scores and weights it was built from, and
    ``text_offset``, the shift that puts its cosine on the text scale for the softmax and
    knn-vote heads (0 for the margin head, which uses the raw cosine as NOVA does).

    A streaming caller builds it once from the stream's first ``N_warm`` samples
    (:func:`warmup_anchor`) and passes it to :func:`score_samples` for every later window."""

    vector: np.ndarray
    preliminary: np.ndarray
    weights: np.ndarray
    text_offset: float = 0.0


def preliminary_scores(
    frames: np.ndarray,
    times: np.ndarray,
    text: TextEmbeddings,
    posterior: np.ndarray | None,
    scoring: Scoring,
    logit_scale: float,
) -> np.ndarray:
    """NOVA's preliminary score: the head's probability per sample without the anchor,
    refinement or motion gate (the scoring rule of its §3.3), context mixed as configured."""
    plain = replace(scoring, anchor="none", refine="none", motion_gate="off")
    values = score_samples(frames, times, text, posterior, plain, logit_scale)
    return expit(values) if plain.margin_values else np.asarray(values, np.float64)


def warmup_anchor(
    frames: np.ndarray,
    times: np.ndarray,
    text: TextEmbeddings,
    posterior: np.ndarray | None,
    scoring: Scoring,
    logit_scale: float,
) -> WarmupAnchor:
    """NOVA's anchor from the first ``scoring.warmup_samples`` of ``frames`` (all of them in a
    shorter video): weights ``softmax(-s / anchor_temperature)`` of their preliminary scores
    ``s`` (:func:`preliminary_scores`), anchor the normalised weighted mean."""
    n = min(scoring.warmup_samples, len(frames))
    if n == 0:
        raise ValueError("the anchor needs at least one sample")
    warm = np.asarray(frames[:n], np.float32)
    post = posterior[:n] if posterior is not None and posterior.ndim == 2 else posterior
    prelim = preliminary_scores(warm, times[:n], text, post, scoring, logit_scale)
    weights = warmup_weights(prelim, scoring.anchor_temperature)
    vector = nova_anchor(warm, prelim, scoring.anchor_temperature).astype(np.float32)
    offset = 0.0
    if scoring.head != "margin":
        # the warm-up's weighted sample as close to the anchor as to its best description
        best = max_similarity(warm, text)
        offset = float(weights @ (best - warm @ vector))
    return WarmupAnchor(vector, prelim, weights, offset)


def score_samples(
    frames: np.ndarray,
    times: np.ndarray,
    text: TextEmbeddings,
    posterior: np.ndarray | None,
    scoring: Scoring,
    logit_scale: float,
    context_window_s: float | None = None,
    memo: dict | None = None,
    anchor: WarmupAnchor | None = None,
    components: dict | None = None,
) -> np.ndarray:
    """The head's value per sample after context mixing and refinement (before the motion gate
    and smoothing): a probability for the softmax head, a margin (pre-sigmoid) for the others.

    ``memo``, a dict kept with the video's embeddings, holds what depends only on them (the
    trimmed-mean anchor, the refinement's kNN graph): computed on the first call, reused by
    later calls with the same ``frames`` and ``times`` objects, so re-scoring a video under
    another head, context or bank skips the (N,N) similarity product. The scores are identical
    either way.

    ``anchor``: with ``scoring.anchor == "nova"``, a :class:`WarmupAnchor` built before (a
    stream's warm-up); None builds it from the first samples of ``frames``.

    ``components``, a dict when given, receives what explains the values (plain arrays, one
    per sample unless said): ``preliminary`` (the anchor-free probability, NOVA's ``s^``),
    ``anchor_similarity`` (each sample's cosine to its anchor) and ``anchor`` (the
    :class:`WarmupAnchor`, with the nova anchor); :func:`to_probabilities` adds the rest."""
    source = (frames, times)
    if scoring.anchor == "none" and scoring.head == "softmax":
        frames = np.asarray(frames, np.float64)
        per_scene, context_free = scene_anomaly_probabilities(
            frames, text, logit_scale, with_scenes=posterior is not None
        )
        values = mix_context(per_scene, context_free, posterior)  # the original recipe
    else:
        frames = np.asarray(frames, np.float32)
        desc = text.descriptions.astype(np.float32)
        # all cosines at once unless the memory is huge (then knn-vote works in chunks)
        sims = frames @ desc.T if len(desc) <= MAX_DENSE_DESCRIPTIONS else None
        anchor_sims = _anchor_similarities(
            frames, times, text, posterior, scoring, logit_scale, sims,
            context_window_s, memo, source, anchor, components,
        )  # fmt: skip

        def scope(cols: np.ndarray) -> np.ndarray:
            scope_sims = None if sims is None else sims[:, cols]
            if scoring.head == "softmax" and scope_sims is not None:
                scope_sims = scope_sims.astype(np.float64)
            return scope_values(
                frames,
                desc[cols],
                text.anomalous[cols],
                text.classes[cols],
                scoring,
                logit_scale,
                anchor_sims,
                scope_sims,
                shared_normal=text.shared_normal[cols],
            )

        is_global = text.scene_index < 0
        context_free = scope(is_global)
        per_scene = None
        if posterior is not None:
            per_scene = np.empty((len(frames), len(text.scenes)))
            weight = posterior if posterior.ndim == 1 else posterior.max(axis=0)
            for s in range(len(text.scenes)):
                # a scene holding under 0.1% of the posterior is scored context-free: the
                # mixture moves by less than its weight, and re-scoring stays interactive
                if weight[s] < MIN_SCENE_WEIGHT:
                    per_scene[:, s] = context_free
                    continue
                per_scene[:, s] = scope(is_global | (text.scene_index == s))
        values = mix_values(per_scene, context_free, posterior, scoring.margin_values)
    if components is not None:
        if scoring.anchor == "none":
            components["preliminary"] = expit(values) if scoring.margin_values else values
        else:
            components["preliminary"] = preliminary_scores(
                frames, times, text, posterior, scoring, logit_scale
            )
    if scoring.refine == "knn":
        values = _knn_refined(values, frames, times, scoring, memo, source)
    return values


def _anchor_similarities(
    frames: np.ndarray,
    times: np.ndarray,
    text: TextEmbeddings,
    posterior: np.ndarray | None,
    scoring: Scoring,
    logit_scale: float,
    sims: np.ndarray | None,
    context_window_s: float | None,
    memo: dict | None,
    source: tuple,
    anchor: WarmupAnchor | None,
    components: dict | None,
) -> np.ndarray | None:
    """Each sample's similarity to its anchor as the head reads it (None without an anchor):
    the trimmed-mean anchor (memoised) or NOVA's warm-up anchor; heads other than margin see
    it shifted onto the descriptions' scale. ``components`` gets the raw cosines."""
    if scoring.anchor == "mean":

        def similarity_to_anchor() -> np.ndarray:
            mean = video_anchor(frames, times, context_window_s).astype(np.float32)
            return np.einsum("nd,nd->n", frames, mean)

        # kept: each frame's cosine to its anchor (N,), not the anchors (N,D)
        raw = _memoized(memo, ("anchor", context_window_s), source, similarity_to_anchor)
        anchor_sims = raw
        if scoring.head != "margin":
            best = sims.max(axis=1) if sims is not None else max_similarity(frames, text)
            anchor_sims = calibrate_anchor(raw, best)
    elif scoring.anchor == "nova":
        if anchor is None:
            anchor = warmup_anchor(frames, times, text, posterior, scoring, logit_scale)
        raw = frames @ np.asarray(anchor.vector, np.float32)
        anchor_sims = raw + np.float32(anchor.text_offset)
        if components is not None:
            components["anchor"] = anchor
    else:
        return None
    if components is not None:
        components["anchor_similarity"] = np.asarray(raw, np.float64)
    return anchor_sims.astype(np.float64) if scoring.head == "softmax" else anchor_sims


def _knn_refined(
    values: np.ndarray,
    frames: np.ndarray,
    times: np.ndarray,
    scoring: Scoring,
    memo: dict | None,
    source: tuple,
) -> np.ndarray:
    """The kNN refinement of ``values`` (its graph memoised with the embeddings)."""
    k = min(scoring.refine_k, len(values))
    gap = scoring.refine_min_gap_s
    graph = None
    if k > 1:
        graph = _memoized(
            memo, ("knn", k, gap), source, lambda: knn_graph(frames, k, times=times, min_gap_s=gap)
        )
    return knn_refine(values, frames, k, scoring.refine_temperature, graph=graph)


def _memoized(memo: dict | None, key: tuple, source: tuple, compute):
    """``memo[key]`` when it was computed from these very ``source`` objects, else computed
    now and stored (embeddings are never changed in place once scored)."""
    if memo is None:
        return compute()
    hit = memo.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], source, strict=True)):
        return hit[1]
    value = compute()
    memo[key] = (source, value)
    return value


def calibrate_anchor(anchor_sims: np.ndarray, best_text_sims: np.ndarray) -> np.ndarray:
    """The trimmed-mean anchor's similarities moved onto the text scale: a frame is far closer
    to the mean of its own video than to any text (the modality gap), so under a max-like pool
    (softmax at the logit scale, a top-K vote) the raw anchor would decide every frame. Shifted
    so that the video's median frame is as close to the anchor as to its best-matching
    description; frames unlike the rest of their video fall below that. (The nova anchor is
    shifted by its warm-up instead, :attr:`WarmupAnchor.text_offset`: the median frame is
    anomalous once an event covers more than half of a video.)

    >>> calibrate_anchor(np.array([0.9, 0.9, 0.5]), np.array([0.3, 0.3, 0.3])).round(2).tolist()
    [0.3, 0.3, -0.1]
    """
    return anchor_sims - np.median(anchor_sims) + np.median(best_text_sims)


def max_similarity(frames: np.ndarray, text: TextEmbeddings, chunk: int = 512) -> np.ndarray:
    """Each frame's highest cosine to any description, ``chunk`` frames at a time."""
    desc = text.descriptions.astype(np.float32)
    out = np.empty(len(frames))
    for start in range(0, len(frames), chunk):
        out[start : start + chunk] = (
            np.asarray(frames[start : start + chunk], np.float32) @ desc.T
        ).max(axis=1)
    return out


def score_parts(
    values: np.ndarray,
    times: np.ndarray,
    scoring: Scoring,
    embeddings: np.ndarray | None = None,
    components: dict | None = None,
) -> ScoreComponents:
    """The parts of each sample's score before smoothing
    (:class:`vad.scoring.explain.ScoreComponents`): ``semantic``, the head's probability (a margin
    through the sigmoid), and with the motion gate on its factor (which needs the sampled
    ``embeddings``); a calibration's novelty is the caller's to add. ``parts.score()`` combines
    them in NOVA's order (the gate multiplies the probability before smoothing). ``components`` (a
    dict) receives ``probability`` (before the gate), ``motion`` and ``motion_gate`` (the factor)
    when the gate is on."""
    from vad.scoring.temporal import motion_gate, motion_strength

    prob = expit(values) if scoring.margin_values else np.asarray(values, np.float64).copy()
    parts = ScoreComponents(semantic=prob)
    if components is not None:
        components["probability"] = parts.semantic
    if scoring.motion_gate != "off":
        if embeddings is None:
            raise ValueError("the motion gate needs the sampled embeddings")
        m, lag = motion_strength(embeddings, times)
        reference = scoring.motion_reference_lag_s if scoring.motion_gate == "nova" else None
        parts.motion_gate = motion_gate(
            m, lag, scoring.motion_threshold, scoring.motion_slope, reference
        )
        if components is not None:
            components["motion"] = m
            components["motion_gate"] = parts.motion_gate
    return parts


def to_probabilities(
    values: np.ndarray,
    times: np.ndarray,
    scoring: Scoring,
    window_s: float,
    method: str,
    embeddings: np.ndarray | None = None,
    adjust: Callable[[np.ndarray], np.ndarray] | None = None,
    components: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(raw, smoothed) anomaly probabilities per sample from the head's values, as
    :meth:`vad.pipeline.Detector.score_embeddings` computes them: :func:`score_parts` (the
    probability times the motion gate when it is on), through ``adjust`` when given, then
    smoothed. Smoothing the final probability at the sample rate with ``window_s`` in seconds
    equals NOVA's smoothing after linear interpolation to every frame up to the interpolation's
    own blur (a variance of ``step^2 / 6``: 1.5 % of ``sigma^2`` at 2 fps and sigma = 1.67 s)."""
    from vad.scoring.temporal import smooth

    prob = score_parts(values, times, scoring, embeddings, components).score()
    if adjust is not None:
        prob = np.asarray(adjust(prob), np.float64)
    return prob, smooth(prob, times, window_s, method)

"""Scoring heads, the per-video normal anchor and in-video kNN refinement (docs/quality.md).

Every head turns the cosine similarities between sampled frames and the prompt bank's
descriptions into one value per frame and scene scope (the global descriptions, or the global
plus one scene's):

``softmax`` (the original recipe)
    ``p = sigmoid(LSE(s*cos[A]) - log|A| - LSE(s*cos[N]) + log|N|)`` at the model's logit scale
    ``s``; its value is the probability.
``margin`` (NOVA)
    per anomaly class ``c``: ``u+ = topmean(cos[A_c])``, ``u- = topmean(cos[N_c])`` (mean of the
    top 50%), margin ``m_c = (alpha*u+ - u-)/tau`` with alpha 0.90, tau 0.03; ``m = max_c m_c``;
    score ``sigmoid(m)``. Its value is the margin (context mixing and refinement act on it).
``knn-vote`` (Flashback)
    one flat labelled memory; anomalous similarities scaled by 0.95; the ``k = 10`` most similar
    entries vote with weights ``softmax(cos / T)``; score = the weighted share of anomalous
    labels; its value is ``logit(score)``.

The anchor joins the normal side of every head as one more normal entry (for the softmax and
knn-vote heads with its similarity moved onto the text scale,
:func:`vad.scoring.calibrate_anchor`). ``nova`` (NOVA's visual normality anchor, eqs. 6-7):
the first ``N_warm = 32`` samples weighted by ``softmax(-s/0.3)`` of their anchor-free score
(:func:`warmup_weights`, :func:`nova_anchor`); ``mean``: the video's trimmed mean embedding
(:func:`video_anchor`). :func:`knn_refine` replaces each value by the softmax-weighted mean over
the ``k`` samples of the same video most similar to it, ignoring those closer in time than
``refine_min_gap_s`` (so it finds similar moments, not the next second).

Everything here is plain numpy on unit-norm embeddings.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from vad.scoring.temporal import NOVA_MOTION_LAG_S


def expit(x):
    """``scipy.special.expit``, imported when first used: the option parser reads this
    module's choices, and scipy costs most of ``vad --help``'s start-up."""
    from scipy.special import expit as _expit

    return _expit(x)


def logit(p):
    """``scipy.special.logit``, imported when first used (see :func:`expit`)."""
    from scipy.special import logit as _logit

    return _logit(p)


HEADS = ("softmax", "margin", "knn-vote")
REFINES = ("knn", "none")
ANCHORS = ("nova", "mean", "none")
"""``nova``: NOVA's warm-up anchor; ``mean``: the video's trimmed mean; ``none``: no anchor."""
MOTION_GATES = ("nova", "unscaled", "off")
"""``nova``: NOVA's gate with its constants restated for our sampling rate
(:func:`vad.scoring.temporal.motion_gate`); ``unscaled``: NOVA's constants applied to our samples as
they are (an ablation of the restatement); ``off``."""
VOTE_EPS = 1e-3  # a vote of exactly 0 or 1 becomes a finite margin (+-6.9)


def _switch(value, allowed: tuple[str, ...], on: str, off: str, what: str) -> str:
    """A setting that older configs wrote as true/false: ``True`` is ``on``, ``False`` or
    ``None`` is ``off``, else one of ``allowed`` (a ValueError listing them)."""
    if value is True:
        return on
    if value is False or value is None:
        return off
    if isinstance(value, str) and value in allowed:
        return value
    raise ValueError(f"unknown {what} {value!r}; choose from {', '.join(allowed)} (or true/false)")


def anchor_mode(value) -> str:
    """An anchor setting as one of :data:`ANCHORS`: ``True`` (the old ``anchor: true``) is the
    default anchor, ``nova``; ``False`` or ``None`` is ``none``.

    >>> anchor_mode(True), anchor_mode(False), anchor_mode("mean")
    ('nova', 'none', 'mean')
    """
    return _switch(value, ANCHORS, "nova", "none", "anchor")


def motion_gate_mode(value) -> str:
    """A motion-gate setting as one of :data:`MOTION_GATES` (``True`` is ``nova``).

    >>> motion_gate_mode(True), motion_gate_mode(False), motion_gate_mode("unscaled")
    ('nova', 'off', 'unscaled')
    """
    return _switch(value, MOTION_GATES, "nova", "off", "motion gate")


@dataclass(frozen=True)
class Scoring:
    """How sampled frames are scored. The defaults are the ``default`` preset's recipe
    (docs/quality.md says why); :meth:`nova` is NOVA's, :meth:`legacy` the original one
    (softmax head, no anchor, no refinement, no motion gate). ``anchor`` and ``motion_gate``
    also accept ``True``/``False`` (the settings of older configs)."""

    head: str = "margin"
    anchor: str = "nova"
    refine: str = "none"
    motion_gate: str = "off"
    alpha: float = 0.90  # margin: weight of the anomalous side (NOVA)
    tau: float = 0.03  # margin: temperature (NOVA)
    top_fraction: float = 0.5  # margin: share of each side averaged (NOVA)
    k: int = 10  # knn-vote: neighbours in the memory (Flashback)
    anomalous_scale: float = 0.95  # knn-vote: scaled anomaly penalization (Flashback)
    vote_temperature: float = 0.01  # knn-vote: softmax temperature of the neighbour weights
    warmup_samples: int = 32  # nova anchor: N_warm, the first samples it is built from (NOVA)
    anchor_temperature: float = 0.3  # nova anchor: gamma of softmax(-s / gamma) (NOVA)
    motion_threshold: float = 0.02  # motion gate: tau_m (NOVA)
    motion_slope: float = 20.0  # motion gate: beta (NOVA)
    motion_reference_lag_s: float = NOVA_MOTION_LAG_S  # the lag tau_m and beta were set at
    refine_k: int = 10  # refinement: neighbours in the same video (LAVAD, VERA)
    refine_temperature: float = 0.1  # refinement: softmax temperature of their weights
    refine_min_gap_s: float = 2.0  # refinement: neighbours closer in time than this are ignored

    def __post_init__(self):
        if self.head not in HEADS:
            raise ValueError(f"unknown scoring head {self.head!r}; choose from {', '.join(HEADS)}")
        if self.refine not in REFINES:
            raise ValueError(
                f"unknown refinement {self.refine!r}; choose from {', '.join(REFINES)}"
            )
        object.__setattr__(self, "anchor", anchor_mode(self.anchor))
        object.__setattr__(self, "motion_gate", motion_gate_mode(self.motion_gate))
        if not 0 < self.top_fraction <= 1:
            raise ValueError(f"top_fraction must be in (0, 1], got {self.top_fraction}")
        if self.k < 1 or self.refine_k < 1 or self.warmup_samples < 1:
            raise ValueError("k, refine_k and warmup_samples must be at least 1")
        temperatures = (self.tau, self.vote_temperature, self.refine_temperature)
        if min(temperatures) <= 0 or self.anchor_temperature <= 0:
            raise ValueError("temperatures must be positive")
        if self.refine_min_gap_s < 0 or self.motion_reference_lag_s <= 0:
            raise ValueError("refine_min_gap_s must be >= 0 and motion_reference_lag_s > 0")

    @classmethod
    def legacy(cls) -> Scoring:
        return cls(head="softmax", anchor="none", refine="none", motion_gate="off")

    @classmethod
    def nova(cls) -> Scoring:
        """NOVA's scoring (arXiv 2609.06360 §3.3-3.5): margin head, warm-up anchor, motion
        gate, no refinement."""
        return cls(head="margin", anchor="nova", refine="none", motion_gate="nova")

    @property
    def repulsive(self) -> bool:
        """Descriptions wrapped in "Normal scene: ..." / "Anomalous scene: ..." (Flashback's
        repulsive prompting, NOVA's prefixes); the softmax head keeps the original texts."""
        return self.head != "softmax"

    @property
    def margin_values(self) -> bool:
        """Whether the head's values are margins (turned into probabilities by a sigmoid) or
        probabilities already (softmax head)."""
        return self.head != "softmax"

    def summary(self) -> dict:
        out = {
            "head": self.head,
            "anchor": self.anchor,
            "refine": self.refine,
            "motion_gate": self.motion_gate,
        }
        params = asdict(self)
        keys: list[str] = []
        if self.head == "margin":
            keys += ["alpha", "tau", "top_fraction"]
        elif self.head == "knn-vote":
            keys += ["k", "anomalous_scale", "vote_temperature"]
        if self.anchor == "nova":
            keys += ["warmup_samples", "anchor_temperature"]
        if self.motion_gate != "off":
            keys += ["motion_threshold", "motion_slope"]
        if self.motion_gate == "nova":
            keys += ["motion_reference_lag_s"]
        if self.refine == "knn":
            keys += ["refine_k", "refine_temperature", "refine_min_gap_s"]
        out.update({k: params[k] for k in keys})
        if "motion_reference_lag_s" in out:
            out["motion_reference_lag_s"] = round(out["motion_reference_lag_s"], 6)
        out["repulsive_templates"] = self.repulsive
        out["smoothed"] = "probability"
        return out


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """``scipy.special.logsumexp(a, axis=1)`` for a finite 2-D float array, computed the same
    way (the maxima are summed apart, then ``log1p``), so the result is identical, without
    scipy's array-API overhead (a third of re-scoring time with every scene scored).

    >>> from scipy.special import logsumexp
    >>> bool(np.array_equal(logsumexp_rows(np.array([[0.0, 1.0, 1.0]])),
    ...                     logsumexp(np.array([[0.0, 1.0, 1.0]]), axis=1)))
    True
    """
    a = np.asarray(a)
    a_max = a.max(axis=1, keepdims=True)
    if a.ndim != 2 or a.shape[1] == 0 or not np.isfinite(a_max).all():
        from scipy.special import logsumexp

        return logsumexp(a, axis=1)
    is_max = a == a_max
    m = is_max.sum(axis=1, keepdims=True, dtype=a.dtype)
    e = np.exp(np.where(is_max, -np.inf, a - a_max))
    s = e.sum(axis=1, keepdims=True, dtype=e.dtype)
    s = np.where(s == 0, s, s / m)
    return (np.log1p(s) + np.log(m) + a_max)[:, 0]


def top_fraction_mean(values: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """Mean of the top ``fraction`` of each row, counting the boundary value fractionally, so
    that repeating every value any number of times leaves the result unchanged.

    >>> top_fraction_mean(np.array([[1.0, 2.0, 3.0, 4.0]])).tolist()
    [3.5]
    >>> a = np.array([[0.1, 0.5, 0.3]])
    >>> bool(np.isclose(top_fraction_mean(a), top_fraction_mean(np.repeat(a, 3, axis=1)))[0])
    True
    """
    values = np.asarray(values)
    n = values.shape[-1]
    want = fraction * n
    m = min(n, math.ceil(want - 1e-9))
    top = np.partition(values, n - m, axis=-1)[..., n - m :]
    if want == m:  # no fractional boundary value: a plain mean of the top m
        return top.mean(axis=-1, dtype=np.float64)
    top.sort(axis=-1)  # ascending: the boundary value is the first
    weights = np.ones(m)
    weights[0] = want - (m - 1)
    return top @ weights / want


def normal_pool(
    anomalous: np.ndarray, classes: np.ndarray, cls: int, shared: np.ndarray | None = None
) -> np.ndarray:
    """The columns of class ``cls``'s normal pool: its own normals and the classless normals
    marked ``shared`` (None: every classless normal, as version 1-2 banks score). The
    unclassed anomalies (``cls`` -1) compete with every classless normal.

    >>> anomalous = np.array([True, False, False, False, False])
    >>> classes = np.array([0, 0, 1, -1, -1])
    >>> normal_pool(anomalous, classes, 0).tolist()
    [1, 3, 4]
    >>> normal_pool(anomalous, classes, 0, np.array([0, 0, 0, 0, 1], bool)).tolist()
    [1, 4]
    """
    anomalous = np.asarray(anomalous, bool)
    classes = np.asarray(classes)
    classless = classes < 0
    if shared is not None and cls >= 0:
        classless = classless & np.asarray(shared, bool)
    return np.flatnonzero(~anomalous & ((classes == cls) | classless))


def margin_head(
    sims: np.ndarray,
    anomalous: np.ndarray,
    classes: np.ndarray,
    extra_normal: np.ndarray | None = None,
    alpha: float = 0.90,
    tau: float = 0.03,
    fraction: float = 0.5,
    shared_normal: np.ndarray | None = None,
) -> np.ndarray:
    """NOVA's margin per frame: max over anomaly classes of ``(alpha*u+ - u-)/tau``.

    ``sims`` (N,M) cosines; ``anomalous`` (M,) bool; ``classes`` (M,) class index, -1 for a
    normal description shared by every class (anomalous ones with -1 form one class);
    ``extra_normal`` (N,) the frame's cosine to its anchor, or None; ``shared_normal`` (M,)
    which classless normals join every class's pool (:func:`normal_pool`; None: all).

    >>> sims = np.array([[0.30, 0.20, 0.10, 0.25]])
    >>> m = margin_head(sims, np.array([True, True, False, False]), np.array([0, 0, -1, -1]))
    >>> round(float(m[0]), 3)                     # (0.9 * 0.30 - 0.25) / 0.03
    0.667
    """
    sims = np.asarray(sims)
    anomalous = np.asarray(anomalous, bool)
    classes = np.asarray(classes)
    n = len(sims)
    if not anomalous.any():
        return np.full(n, -1.0 / tau)
    best = np.full(n, -np.inf)
    # classes with as many anomalous and normal columns are scored together, (N, classes, m)
    groups: dict[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]] = {}
    for c in np.unique(classes[anomalous]):
        anom_cols = np.flatnonzero(anomalous & (classes == c))
        norm_cols = normal_pool(anomalous, classes, c, shared_normal)
        groups.setdefault((len(anom_cols), len(norm_cols)), []).append((anom_cols, norm_cols))
    if extra_normal is not None:  # the anchor as one more column, so one gather per group
        sims = np.concatenate([sims, np.asarray(extra_normal, sims.dtype)[:, None]], axis=1)
    for members in groups.values():
        anom_cols = np.stack([a for a, _ in members])
        norm_cols = np.stack([b for _, b in members])
        if extra_normal is not None:
            norm_cols = np.c_[norm_cols, np.full(len(members), sims.shape[1] - 1)]
        normal = sims.take(norm_cols, axis=1)  # (N, classes, m); faster than sims[:, cols]
        u_anom = top_fraction_mean(sims.take(anom_cols, axis=1), fraction)
        if normal.shape[2] == 0:
            margin = np.full((n, len(members)), 1.0 / tau)
        else:
            margin = (alpha * u_anom - top_fraction_mean(normal, fraction)) / tau
        best = np.maximum(best, margin.max(axis=1))
    return best


def softmax_head(
    logits: np.ndarray, anomalous: np.ndarray, extra_normal: np.ndarray | None = None
) -> np.ndarray:
    """The original two-group softmax probability (log of the mean of exp per group); the
    anchor's logit, when given, is one more member of the normal group."""
    logits = np.asarray(logits, dtype=np.float64)
    anomalous = np.asarray(anomalous, bool)
    normal = logits[:, ~anomalous]
    if extra_normal is not None:
        normal = np.concatenate([normal, np.asarray(extra_normal)[:, None]], axis=1)
    if not anomalous.any():
        return np.zeros(len(logits))
    if normal.shape[1] == 0:
        return np.ones(len(logits))
    anom = logsumexp_rows(logits[:, anomalous]) - np.log(anomalous.sum())
    norm = logsumexp_rows(normal) - np.log(normal.shape[1])
    return expit(anom - norm)


def knn_vote(
    frames: np.ndarray,
    memory: np.ndarray,
    anomalous: np.ndarray,
    k: int = 10,
    temperature: float = 0.01,
    anomalous_scale: float = 0.95,
    extra_normal: np.ndarray | None = None,
    chunk: int = 512,
    sims: np.ndarray | None = None,
) -> np.ndarray:
    """Flashback's vote: the share of anomalous labels among the ``k`` memory entries most
    similar to each frame, weighted by ``softmax(similarity / temperature)``. Anomalous
    similarities are scaled by ``anomalous_scale``. Frames are processed ``chunk`` rows at a
    time, so a memory of 100k entries needs only ``chunk x M`` similarities at once;
    ``sims`` (N,M) are the precomputed cosines when available.

    >>> mem = np.eye(3)
    >>> v = knn_vote(np.eye(3)[[0, 2]], mem, np.array([False, False, True]), k=1)
    >>> v.tolist()
    [0.0, 1.0]
    """
    frames = np.asarray(frames, dtype=np.float32)
    memory = np.asarray(memory, dtype=np.float32)
    labels = np.asarray(anomalous, bool)
    scale = np.where(labels, anomalous_scale, 1.0).astype(np.float32)
    out = np.empty(len(frames))
    n = len(frames) if sims is None else len(sims)
    # the anchor (one normal entry per frame) sits in an extra last column
    lab_ext = np.r_[labels, False]
    for start in range(0, n, chunk):
        if sims is None:
            block = frames[start : start + chunk] @ memory.T
        else:
            block = np.asarray(sims[start : start + chunk], np.float32)
        block = block * scale
        if extra_normal is not None:
            extra = np.asarray(extra_normal, np.float32)[start : start + chunk, None]
            block = np.concatenate([block, extra], axis=1)
        kk = min(k, block.shape[1])
        idx = np.argpartition(block, block.shape[1] - kk, axis=1)[:, block.shape[1] - kk :]
        top = np.take_along_axis(block, idx, axis=1).astype(np.float64) / temperature
        w = np.exp(top - top.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        out[start : start + chunk] = (w * lab_ext[idx]).sum(axis=1)
    return out


def vote_margin(vote: np.ndarray) -> np.ndarray:
    """A vote in [0, 1] as a finite margin (logit), so it can be smoothed before the sigmoid."""
    return logit(np.clip(vote, VOTE_EPS, 1 - VOTE_EPS))


def video_anchor(
    embeddings: np.ndarray, times: np.ndarray, window_s: float | None = None
) -> np.ndarray:
    """The ``mean`` anchor, one row per sample (N,D): the video's trimmed mean frame embedding
    (:func:`vad.scoring.context.robust_mean`), or that of the ``window_s`` around each sample.

    >>> e = np.tile([1.0, 0.0], (4, 1))
    >>> video_anchor(e, np.arange(4.0)).tolist()[0]
    [1.0, 0.0]
    """
    from vad.scoring.context import context_embeddings

    return context_embeddings(np.asarray(embeddings), np.asarray(times), window_s)


def warmup_weights(preliminary: np.ndarray, temperature: float = 0.3) -> np.ndarray:
    """NOVA eq. 6: the warm-up samples' weights ``softmax(-s / temperature)`` of their
    preliminary (anchor-free) scores ``s`` in [0, 1]: the least anomalous-looking samples
    weigh most, so an event inside the warm-up barely moves the anchor.

    >>> warmup_weights(np.array([0.1, 0.1, 0.9])).round(3).tolist()
    [0.483, 0.483, 0.034]
    """
    s = -np.asarray(preliminary, np.float64) / temperature
    if not len(s):
        return s
    w = np.exp(s - s.max())
    return w / w.sum()


def nova_anchor(
    embeddings: np.ndarray, preliminary: np.ndarray, temperature: float = 0.3
) -> np.ndarray:
    """NOVA eq. 7: the visual normality anchor ``normalize(sum_t w_t x_t)`` (D,) of the
    warm-up samples ``embeddings`` (the first ``N_warm`` of a video or a stream) with weights
    :func:`warmup_weights` of their ``preliminary`` scores. A plain function of arrays, so a
    streaming caller builds it once from its warm-up and keeps it.

    >>> e = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> nova_anchor(e, np.array([0.0, 0.0, 1.0])).round(2).tolist()
    [1.0, 0.02]
    """
    x = np.asarray(embeddings, np.float64)
    if not len(x):
        raise ValueError("the anchor needs at least one warm-up sample")
    return _normalize(warmup_weights(preliminary, temperature) @ x)


@dataclass(frozen=True)
class NeighbourGraph:
    """Each sample's ``k`` most similar samples of the same video (itself included, the others
    at least ``min_gap_s`` away in time): indices (N,k) and cosines (N,k); a row with fewer
    samples that far away pads with ``-inf`` cosines (weight 0). It depends only on the
    embeddings and times, not on the head, so one graph serves every re-scoring of a video
    (:func:`knn_graph`, ``memo`` of :func:`vad.scoring.score.score_samples`)."""

    indices: np.ndarray
    sims: np.ndarray
    min_gap_s: float = 0.0

    @property
    def k(self) -> int:
        return self.indices.shape[1]


def knn_graph(
    embeddings: np.ndarray,
    k: int = 10,
    chunk: int = 1024,
    times: np.ndarray | None = None,
    min_gap_s: float = 0.0,
) -> NeighbourGraph:
    """The in-video kNN graph of :func:`knn_refine`: an (N,N) similarity product, ``chunk``
    rows at a time, each row cut to its ``k`` largest; with ``times`` and ``min_gap_s``, the
    samples closer in time than ``min_gap_s`` (other than the sample itself) are left out.

    >>> g = knn_graph(np.eye(3)[[0, 0, 1]], k=2)
    >>> sorted(g.indices[0].tolist()), g.k
    ([0, 1], 2)
    >>> g = knn_graph(np.eye(3)[[0, 0, 1]], k=2, times=np.arange(3.0), min_gap_s=1.5)
    >>> sorted(g.indices[0].tolist())                      # 1 s away is too close: left out
    [0, 2]
    """
    emb = _normalize(np.asarray(embeddings, dtype=np.float32))
    n = len(emb)
    kk = min(k, n)
    gap = float(min_gap_s) if times is not None else 0.0
    t = None if times is None else np.asarray(times, np.float64)
    indices = np.empty((n, kk), dtype=np.intp)
    top = np.empty((n, kk), dtype=np.float32)
    for start in range(0, n, chunk):
        sims = emb[start : start + chunk] @ emb.T
        rows = np.arange(start, start + len(sims))
        if gap > 0:
            near = np.abs(t[rows, None] - t[None, :]) < gap
            near[np.arange(len(rows)), rows] = False  # the sample itself always counts
            sims[near] = -np.inf
        idx = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        indices[start : start + chunk] = idx
        top[start : start + chunk] = np.take_along_axis(sims, idx, axis=1)
    return NeighbourGraph(indices, top, gap)


def knn_refine(
    values: np.ndarray,
    embeddings: np.ndarray | None,
    k: int = 10,
    temperature: float = 0.1,
    chunk: int = 1024,
    graph: NeighbourGraph | None = None,
    times: np.ndarray | None = None,
    min_gap_s: float = 0.0,
) -> np.ndarray:
    """Each sample's value becomes the ``softmax(cos / temperature)``-weighted mean of the
    values of itself and the ``k - 1`` other samples of the same video most similar to it,
    ignoring samples closer in time than ``min_gap_s`` (given ``times``). ``graph`` is the
    video's :func:`knn_graph` for this ``k`` and gap when already computed (then
    ``embeddings`` is not read); the result is the same, without the (N,N) product.

    >>> e = np.tile([1.0, 0.0], (12, 1))
    >>> v = np.zeros(12); v[5] = 10.0                      # one isolated spike
    >>> float(knn_refine(v, e)[5]) <= 1.0
    True
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    kk = min(k, n)
    if n == 0 or kk <= 1:
        return values.copy()
    if graph is None:
        graph = knn_graph(embeddings, kk, chunk, times, min_gap_s)
    elif graph.indices.shape != (n, kk):
        raise ValueError(
            f"neighbour graph of shape {graph.indices.shape} does not fit {n} samples, k={kk}"
        )
    top = graph.sims.astype(np.float64) / temperature
    w = np.exp(top - top.max(axis=1, keepdims=True))  # -inf (too close in time): weight 0
    w /= w.sum(axis=1, keepdims=True)
    return (w * values[graph.indices]).sum(axis=1)


def scope_values(
    frames: np.ndarray,
    descriptions: np.ndarray,
    anomalous: np.ndarray,
    classes: np.ndarray,
    scoring: Scoring,
    logit_scale: float,
    anchor_sims: np.ndarray | None = None,
    sims: np.ndarray | None = None,
    shared_normal: np.ndarray | None = None,
) -> np.ndarray:
    """The head's value (probability for softmax, margin otherwise) of every frame against
    one scope of descriptions; ``sims`` are the precomputed cosines when available;
    ``shared_normal`` picks the margin head's class pools (:func:`normal_pool`). The softmax
    and knn-vote heads have no classes: every normal in scope is on their normal side."""
    if scoring.head == "knn-vote":
        vote = knn_vote(
            frames,
            descriptions,
            anomalous,
            scoring.k,
            scoring.vote_temperature,
            scoring.anomalous_scale,
            anchor_sims,
            sims=sims,
        )
        return vote_margin(vote)
    if sims is None:
        sims = np.asarray(frames, np.float32) @ np.asarray(descriptions, np.float32).T
    if scoring.head == "softmax":
        extra = None if anchor_sims is None else logit_scale * anchor_sims
        return softmax_head(logit_scale * sims, anomalous, extra)
    return margin_head(
        sims,
        anomalous,
        classes,
        anchor_sims,
        scoring.alpha,
        scoring.tau,
        scoring.top_fraction,
        shared_normal=shared_normal,
    )


def mix_values(
    per_scene: np.ndarray, context_free: np.ndarray, posterior: np.ndarray | None, margin: bool
) -> np.ndarray:
    """Posterior-weighted mixture over scenes, done on probabilities; margins are mixed as
    probabilities and turned back into a margin."""
    if posterior is None:
        return context_free
    probs = expit(per_scene) if margin else per_scene
    mixed = probs @ posterior if posterior.ndim == 1 else np.einsum("ns,ns->n", probs, posterior)
    if not margin:
        return mixed
    return logit(np.clip(mixed, 1e-12, 1 - 1e-12))

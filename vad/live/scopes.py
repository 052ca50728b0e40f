"""The heads of :mod:`vad.live.livescore`, reduced to per-sample *pieces* that are kept:
each new sample's cosines to the descriptions, summarised once so that its value under any
anchor and in every scope (global, each scene) has a closed form (:class:`MarginScopes`,
:class:`SoftmaxScopes`, :class:`VoteScopes`). ``pieces`` is called once per sample,
``values`` whenever the anchor or the posterior moves."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
from scipy.special import expit

from vad.scoring.heads import vote_margin


def scope_masks(text) -> list[np.ndarray]:
    """The description columns of every scope: 0 the global ones, ``s + 1`` the global ones
    and scene ``s``'s (as :func:`vad.scoring.score.score_samples` scores a sample per scene)."""
    is_global = text.scene_index < 0
    return [is_global] + [is_global | (text.scene_index == s) for s in range(len(text.scenes))]


def _layout(
    sets: list[np.ndarray], pad: int, fraction: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Column sets as indices (sets, width) padded with the column ``pad``, and the weights of
    their descending-sorted values for a top-``fraction`` mean: 1 for the top, the fractional
    boundary value's share, 0 for the rest, over ``fraction * n`` (as
    :func:`vad.scoring.heads.top_fraction_mean`)."""
    width = max([len(x) for x in sets] + [1])
    idx = np.full((len(sets), width), pad, np.intp)
    weights = np.zeros((len(sets), width))
    for j, cols in enumerate(sets):
        n = len(cols)
        idx[j, :n] = cols
        if n:
            want = fraction * n
            top = min(n, math.ceil(want - 1e-9))
            weights[j, :top] = 1.0 / want
            weights[j, top - 1] = (want - (top - 1)) / want
    return idx, weights


def all_scopes(scoring, text, logit_scale: float):
    """The head of ``scoring`` over every scope at once, as a function of the anchor (any
    anchor but ``none``: the heads do not care where it comes from)."""
    anchored = scoring.anchor != "none"
    if scoring.head == "margin":
        return MarginScopes(text, scoring.alpha, scoring.tau, scoring.top_fraction, anchored)
    if scoring.head == "softmax":
        return SoftmaxScopes(text, logit_scale, anchored)
    return VoteScopes(text, scoring.k, scoring.vote_temperature, scoring.anomalous_scale, anchored)


class MarginScopes:
    """The margin head (:func:`vad.scoring.heads.margin_head`) of every scope at once, and as a
    function of the anchor. Scope 0 is the global descriptions, scope ``s + 1`` the global plus
    scene ``s``'s.

    ``margin_head`` is called once per scope, and each call's set-up (classes, columns) costs
    more than scoring one sample; here all (scope, anomaly class) pairs are laid out once,
    padded to one width, and each side's top-fraction mean is a sort and a weighted sum.

    The anchor is one more value on the normal side. With the side's other values sorted,
    ``v1 >= v2 >= ...``, the top-fraction mean over them and the anchor's cosine ``a`` (``n + 1``
    values, ``want = fraction * (n + 1)``, ``m = ceil(want)``, boundary share
    ``beta = want - m + 1``) is, with ``S = v1 + ... + v(m-1)``::

        (S - v(m-1) + a + beta * v(m-1)) / want    if a > v(m-1)    (a among the top m - 1)
        (S + beta * a) / want                      if v(m) < a <= v(m-1)   (a the boundary)
        (S + beta * v(m)) / want                   if a <= v(m)     (a not in the top m)

    so :meth:`pieces` keeps three numbers per pair (``alpha * u+ - S / want``, ``v(m-1)``,
    ``v(m)``) and :meth:`values` gives the margins for any anchor in O(pairs). Equal to
    ``margin_head`` per scope up to float rounding (tests/test_livescore.py).

    >>> from vad.scoring.text import TextEmbeddings
    >>> t = TextEmbeddings(scenes=np.eye(2), descriptions=np.eye(2),
    ...     anomalous=np.array([True, False]), scene_index=np.array([-1, -1]), labels=["a", "n"])
    >>> heads = MarginScopes(t, anchor=False)
    >>> heads(np.array([[0.30, 0.25]]), None).round(3).tolist()       # (0.9 * 0.3 - 0.25) / 0.03
    [[0.667, 0.667, 0.667]]
    """

    BIG = 1e30  # stands for a value beyond every cosine (a missing neighbour in the sort)

    def __init__(
        self,
        text,
        alpha: float = 0.90,
        tau: float = 0.03,
        fraction: float = 0.5,
        anchor: bool = True,
    ):
        self.alpha, self.tau, self.anchor = alpha, tau, anchor
        self.pad_col = len(text.labels)
        scopes = scope_masks(text)
        anom_sets, norm_sets, owner = [], [], []
        classless = text.classes < 0
        for q, scope in enumerate(scopes):
            anomalous = scope & text.anomalous
            for c in np.unique(text.classes[anomalous]):
                anom_sets.append(np.flatnonzero(anomalous & (text.classes == c)))
                # the class's normal pool (vad.scoring.heads.normal_pool): its own normals and the
                # shared classless ones (every classless one for the unclassed anomalies)
                joins = classless & text.shared_normal if c >= 0 else classless
                norm_sets.append(
                    np.flatnonzero(scope & ~text.anomalous & ((text.classes == c) | joins))
                )
                owner.append(q)
        self.scopes = len(scopes)
        self.owner = np.array(owner, np.intp)  # pairs are grouped by scope, in scope order
        self.starts = np.flatnonzero(np.r_[True, self.owner[1:] != self.owner[:-1]])
        self.anom, self.anom_w = _layout(anom_sets, self.pad_col, fraction)
        self.norm, self.norm_w = _layout(norm_sets, self.pad_col, fraction)
        n = np.array([len(x) for x in norm_sets])
        if anchor:  # the normal side counts the anchor: n + 1 values
            self.want = fraction * (n + 1)
            self.m = np.minimum(n + 1, np.ceil(self.want - 1e-9).astype(int))
            self.beta_want = (self.want - (self.m - 1)) / self.want
            self.inv_want = 1.0 / self.want
        self.no_normal = n == 0

    def _sorted(self, sims: np.ndarray, idx: np.ndarray) -> np.ndarray:
        ext = np.full((len(sims), self.pad_col + 1), -self.BIG)  # pads sort last, weigh 0
        ext[:, : self.pad_col] = sims
        return -np.sort(-ext[:, idx], axis=-1)  # (b, pairs, width), descending

    def pieces(self, sims: np.ndarray) -> np.ndarray:
        """What the margins need of ``b`` samples' cosines to the descriptions ``sims`` (b,M):
        (b, 3, pairs): ``alpha * u+ - S / want`` (with the anchor; ``alpha * u+ - u-``
        without), ``v(m-1)`` and ``v(m)``."""
        anom = np.einsum("bpw,pw->bp", self._sorted(sims, self.anom), self.anom_w)
        out = np.zeros((len(sims), 3, len(self.owner)))
        if not self.anchor:
            norm = np.einsum("bpw,pw->bp", self._sorted(sims, self.norm), self.norm_w)
            out[:, 0] = self.alpha * anom - norm
            return out
        v = self._sorted(sims, self.norm)
        edge = np.full(v.shape[:2] + (1,), self.BIG)
        v = np.concatenate([edge, v, -edge], axis=2)  # v[..., i] is v(i); v(0) above all
        cumulative = np.cumsum(np.where(np.abs(v) < self.BIG, v, 0.0), axis=2)
        pairs = np.arange(len(self.owner))
        out[:, 0] = self.alpha * anom - cumulative[:, pairs, self.m - 1] / self.want
        out[:, 1] = v[:, pairs, self.m - 1]
        out[:, 2] = v[:, pairs, np.minimum(self.m, v.shape[2] - 1)]
        return out

    def values(self, pieces: np.ndarray, anchor_sims: np.ndarray | None) -> np.ndarray:
        """Margins (b, scopes) from :meth:`pieces`, with the samples' cosines to their anchor
        ``anchor_sims`` (b,) (None without an anchor): ``want * u-`` is
        ``S + beta * clip(a, v(m), v(m-1)) + max(a - v(m-1), 0)`` (the three cases above)."""
        b = len(pieces)
        out = np.full((b, self.scopes), -1.0 / self.tau)  # a scope without anomalous: -1/tau
        if not len(self.owner):
            return out
        margin = pieces[:, 0].copy()
        if self.anchor:
            a = np.asarray(anchor_sims, np.float64)[:, None]
            above, below = pieces[:, 1], pieces[:, 2]  # below <= above
            boundary = np.minimum(np.maximum(a, below), above)
            boundary *= self.beta_want
            margin -= boundary
            excess = a - above
            np.maximum(excess, 0.0, out=excess)
            excess *= self.inv_want
            margin -= excess
        else:
            margin[:, self.no_normal] = 1.0
        margin /= self.tau
        out[:, self.owner[self.starts]] = np.maximum.reduceat(margin, self.starts, axis=1)
        return out

    def __call__(self, sims: np.ndarray, anchor_sims: np.ndarray | None) -> np.ndarray:
        """Margins (b, scopes) of ``b`` samples' cosines ``sims`` (b,M) and ``anchor_sims``."""
        return self.values(self.pieces(sims), anchor_sims)


def _logsumexp(a: np.ndarray) -> np.ndarray:
    """log(sum(exp)) over the last axis; -inf for a row of -inf (an empty, padded set)."""
    top = a.max(axis=-1)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - top[..., None]).sum(axis=-1)) + top


class SoftmaxScopes:
    """The softmax head (:func:`vad.scoring.heads.softmax_head`) of every scope at once, as a
    function of the anchor: the normal side's evidence with the anchor's logit ``l`` is
    ``logaddexp(LSE(normal), l) - log(n + 1)``, so :meth:`pieces` keeps two numbers per scope
    (the anomalous evidence and the normal log-sum-exp) and :meth:`values` the probabilities
    for any anchor."""

    def __init__(self, text, logit_scale: float, anchor: bool = True):
        self.logit_scale, self.anchor = float(logit_scale), anchor
        self.pad_col = len(text.labels)
        scopes = scope_masks(text)
        anom = [np.flatnonzero(q & text.anomalous) for q in scopes]
        norm = [np.flatnonzero(q & ~text.anomalous) for q in scopes]
        self.anom, _ = _layout(anom, self.pad_col)
        self.norm, _ = _layout(norm, self.pad_col)
        self.n_anom = np.array([len(c) for c in anom])
        self.n_norm = np.array([len(c) for c in norm])

    def pieces(self, sims: np.ndarray) -> np.ndarray:
        """(b, scopes, 2): ``LSE(l[A]) - log|A|`` and ``LSE(l[N])``, ``l`` the logits."""
        b = len(sims)
        ext = np.full((b, self.pad_col + 1), -np.inf)
        ext[:, : self.pad_col] = self.logit_scale * np.asarray(sims, np.float64)
        out = np.empty((b, len(self.n_anom), 2))
        out[..., 0] = _logsumexp(ext[:, self.anom]) - np.log(np.maximum(self.n_anom, 1))
        out[..., 1] = _logsumexp(ext[:, self.norm])
        return out

    def values(self, pieces: np.ndarray, anchor_sims: np.ndarray | None) -> np.ndarray:
        """Probabilities (b, scopes) with the samples' (calibrated) anchor cosines."""
        anom, norm = pieces[..., 0], pieces[..., 1]
        if self.anchor:
            extra = self.logit_scale * np.asarray(anchor_sims, np.float64)[:, None]
            evidence = np.logaddexp(norm, extra) - np.log(self.n_norm + 1)
        else:
            evidence = norm - np.log(np.maximum(self.n_norm, 1))
        out = expit(anom - evidence)
        if not self.anchor:
            out[:, self.n_norm == 0] = 1.0
        out[:, self.n_anom == 0] = 0.0
        return out


class VoteScopes:
    """Flashback's vote (:func:`vad.scoring.heads.knn_vote`) over every scope at once, as a
    function of the anchor: the ``k`` entries that vote are the scope's ``k`` most similar
    descriptions, or its ``k - 1`` most similar and the anchor when the anchor beats the ``k``-th,
    so :meth:`pieces` keeps each scope's top ``k`` (scaled cosine, label) and :meth:`values` the
    vote margins for any anchor."""

    def __init__(
        self,
        text,
        k: int = 10,
        temperature: float = 0.01,
        anomalous_scale: float = 0.95,
        anchor: bool = True,
    ):
        self.k, self.temperature, self.anchor = k, temperature, anchor
        self.pad_col = len(text.labels)
        cols = [np.flatnonzero(q) for q in scope_masks(text)]
        self.cols, _ = _layout(cols, self.pad_col)
        labels = np.r_[text.anomalous, False]
        self.labels = labels[self.cols]
        self.scale = np.where(self.labels, anomalous_scale, 1.0).astype(np.float32)

    def pieces(self, sims: np.ndarray) -> np.ndarray:
        """(b, scopes, k, 2): each scope's ``k`` largest scaled cosines, descending (-inf
        pads a scope with fewer), and their labels (1 anomalous)."""
        b = len(sims)
        ext = np.full((b, self.pad_col + 1), -np.inf, np.float32)
        ext[:, : self.pad_col] = sims
        block = ext[:, self.cols] * self.scale  # (b, scopes, width), float32 as knn_vote
        order = np.argsort(-block, axis=-1, kind="stable")[..., : self.k]
        out = np.full((*block.shape[:2], self.k, 2), -np.inf)
        kk = order.shape[-1]
        out[..., :kk, 0] = np.take_along_axis(block, order, axis=-1)
        labels = np.broadcast_to(self.labels, block.shape)
        out[..., :kk, 1] = np.take_along_axis(labels, order, axis=-1)
        out[..., kk:, 1] = 0.0
        return out

    def values(self, pieces: np.ndarray, anchor_sims: np.ndarray | None) -> np.ndarray:
        """Vote margins (b, scopes) with the samples' (calibrated) anchor cosines."""
        top, labels = pieces[..., 0], pieces[..., 1]
        vote = self._vote(top, labels)
        if self.anchor:
            a = np.asarray(np.asarray(anchor_sims, np.float32), np.float64)[:, None]
            with_anchor = self._vote(top[..., :-1], labels[..., :-1], a)
            vote = np.where(a > top[..., -1], with_anchor, vote)  # the anchor beats the k-th
        return vote_margin(vote)

    def _vote(self, top: np.ndarray, labels: np.ndarray, anchor=None) -> np.ndarray:
        """The weighted share of anomalous labels among ``top`` (descending) and the anchor."""
        t = top / self.temperature
        peak = t[..., 0] if t.shape[-1] else np.full(t.shape[:-1], -np.inf)
        if anchor is not None:
            peak = np.maximum(peak, anchor / self.temperature)
        w = np.exp(t - peak[..., None])
        total = w.sum(axis=-1)
        if anchor is not None:
            total = total + np.exp(anchor / self.temperature - peak)
        return (w * labels).sum(axis=-1) / total


class _DescriptionRun:
    """The anomalous descriptions of the current run of scores at or above ``threshold`` (runs
    closer than ``merge_gap`` samples are one, the samples between included), ranked as
    ``vad score`` ranks an event's: how often each is a sample's best match, then its mean
    similarity. O(descriptions) memory, O(1) per sample."""

    def __init__(self, threshold: float, merge_gap: float):
        self.threshold = threshold
        self.merge_gap = merge_gap
        self.last_above: int | None = None
        self.counts: Counter = Counter()
        self.sums: dict[int, list[float]] = {}  # description -> [sum of similarities, count]
        self.between: list[tuple[np.ndarray, np.ndarray]] = []  # below, since the last above

    @property
    def active(self) -> bool:
        """A run is going on (a sample below the threshold may still be part of it)."""
        return self.last_above is not None

    def _add(self, idx: np.ndarray, sim: np.ndarray) -> None:
        if len(idx):
            self.counts[int(idx[0])] += 1
        for i, s in zip(idx.tolist(), sim.tolist(), strict=True):
            entry = self.sums.setdefault(i, [0.0, 0])
            entry[0] += s
            entry[1] += 1

    def update(self, g: int, score: float, idx: np.ndarray, sim: np.ndarray, text) -> list:
        if score < self.threshold:
            if self.last_above is not None:
                self.between.append((idx, sim))
                if len(self.between) > self.merge_gap + 1e-9:  # the run is over
                    self.last_above, self.between = None, []
            return []
        if self.last_above is None:  # a new run
            self.counts, self.sums = Counter(), {}
        for pending in self.between:  # a gap short enough: part of the run
            self._add(*pending)
        self.between = []
        self._add(idx, sim)
        self.last_above = g
        mean = {i: s / n for i, (s, n) in self.sums.items()}
        ranked = sorted(mean, key=lambda i: (-self.counts.get(i, 0), -mean[i]))[:3]
        out = []
        for i in ranked:
            entry = {"text": text.labels[i], "similarity": round(float(mean[i]), 4)}
            cls = int(text.classes[i])
            if cls >= 0 and text.class_names:
                entry["class"] = text.class_names[cls]
            out.append(entry)
        return out

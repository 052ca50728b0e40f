"""Scores of a live stream, sample by sample, from its past only (``vad watch``).

:class:`IncrementalScorer` (what ``vad watch`` uses) gives each new sample the score the
whole-window re-score would give it (:class:`WindowScorer`: the window as a video through
:meth:`~vad.pipeline.Detector.score_embeddings`), with work that does not grow with the window
``W`` (in samples) beyond one pass over its embeddings:

1. **reference** - the window's trimmed mean embedding (:func:`vad.scoring.context.robust_mean`, the
   scene context's and the ``mean`` anchor's) and its scene posterior: one pass over
   ``W x D``. NOVA's anchor (``nova``, the default) is not the window's: it is the stream's
   warm-up anchor (:class:`StreamWarmup`), built from the samples so far until the first
   ``warmup_samples`` (32) have arrived, then fixed, as both scorers use it;
2. **pieces** - the new sample's cosines to the ``M`` descriptions, reduced once to what its
   head needs for *any* anchor, in every scope at once (:class:`MarginScopes`,
   :class:`SoftmaxScopes`, :class:`VoteScopes`: the anchor is one more normal entry, and each
   head has a closed form in it), kept;
3. **tail** - the newest smoothed score reads the refined values of the last ``T`` samples only
   (``T`` = the smoothing's reach + 2: 15 with the default 1.667-s Gaussian at 2 fps). Each
   tail sample's ``k`` nearest neighbours in the window (those closer in time than
   ``refine_min_gap_s`` left out) come from similarity rows kept for the tail (a new sample
   adds one row of ``W`` cosines and one entry to each other row). The tail's and the
   neighbours' values are evaluated from their pieces against the *newest* anchor (its cosine
   moved onto the text scale as :func:`vad.scoring.score.score_samples` moves it) and mixed by the
   *newest* posterior - exactly as the re-score treats every sample of its window - then
   refined, turned into probabilities, multiplied by the motion gate (from each tail sample's
   predecessor and successor; the newest has no successor yet and is its own, as at the edge
   of the re-score's window), calibrated and smoothed by the same functions as ``vad score``;
   the newest result is the score.

Per sample: ``O(M x D)`` for the pieces, ``O(W x D)`` for the reference and the similarity
row, ``O(T x W)`` to pick neighbours, ``O(T x k x pairs)`` to evaluate (and during the
warm-up only, NOVA's anchor again from up to 32 samples); nothing grows with ``W x W`` or
``W x M`` (the re-score's kNN graph and heads). ``W x D`` is 0.3 M
multiply-adds for a 300-s window at 2 fps with 512-d embeddings. docs/benchmarks.md ("Watch")
has the CPU per sample at 60-s and 300-s windows, before and after.

Agreement with the re-score (tests/test_livescore.py, a stream for 21 recipes - every head,
anchor, motion gate, refinement, smoothing and context, configs/nova.yaml's - and a
calibration): within 1e-5, i.e. the rounding of the scores to 6 decimals; the one other
difference is float32 rounding of the cosines between samples, which can swap two neighbours
equally similar to 7 digits (the re-score computes them as one matrix product, this scorer a
row at a time): on vtest.avi with the tiny test model, 13 of 159 scores moved, by up to 8e-4.

Both score a sample from the past only (the window ending with it; the smoothing's edge
repeats the newest value), unlike ``vad score``, which sees the whole video: README,
"Watching cameras", says what that changes on a test stream. Samples are taken as regularly
spaced at the sample rate (as the re-score treats them).

Recipe pieces live in three places: ``_reference`` (context and anchor, with
:class:`StreamWarmup`), the ``*Scopes`` heads (``pieces``/``values``), and ``_scored``
(refinement, probabilities, motion gate, calibration, smoothing)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from vad.cache import VideoEmbeddings
from vad.live.scopes import _DescriptionRun, all_scopes
from vad.scoring.context import Context, fixed_context, robust_mean, scene_posterior
from vad.scoring.explain import describe_event, explain_peak
from vad.scoring.heads import _normalize, mix_values
from vad.scoring.score import (
    MIN_SCENE_WEIGHT,
    WarmupAnchor,
    mix_context,
    scene_anomaly_probabilities,
    score_parts,
    top_anomalous_descriptions,
    warmup_anchor,
)
from vad.scoring.temporal import smooth

SCORERS = ("incremental", "window")


MERGE_GAP_S = 1.0  # as vad score's events: runs of high scores closer than this are one


@dataclass(frozen=True)
class Scored:
    """One sample's score, the anomalous descriptions of the run of high scores it belongs to
    that fired (empty below the threshold), the scene it was scored in (None without context),
    and at or above the threshold what drove the score (``explained``: ``label``,
    ``explanation`` and ``nearest_descriptions`` when the descriptions did not fire, as
    :func:`vad.scoring.explain.describe_event` gives them; None when not explained)."""

    score: float
    descriptions: list
    scene: str | None
    explained: dict | None = None


def window_capacity(window_s: float, sample_fps: float) -> int:
    """Samples a context window of ``window_s`` seconds holds (the newest included).

    >>> window_capacity(60.0, 2.0)
    121
    """
    return max(2, int(math.ceil(window_s * sample_fps)) + 1)


def smoothing_reach(window_s: float, sample_fps: float, method: str) -> int:
    """How many samples on each side :func:`vad.scoring.temporal.smooth` reads for one output.

    >>> smoothing_reach(2.0, 2.0, "gaussian"), smoothing_reach(2.0, 2.0, "median")
    (16, 2)
    """
    if method == "none" or window_s <= 0:
        return 0
    if method == "gaussian":  # scipy's radius: int(truncate * sigma + 0.5), truncate 4
        return int(4.0 * window_s * sample_fps + 0.5)
    size = max(1, int(round(window_s * sample_fps)))
    return (size + (size % 2 == 0)) // 2


class StreamWarmup:
    """NOVA's anchor of a stream (``anchor: nova``): built by ``build`` (the warm-up samples
    (n,D) -> :class:`~vad.scoring.score.WarmupAnchor`) from the stream's first ``size`` samples
    (``scoring.warmup_samples``), from the samples so far until that many have arrived, then
    fixed: it does not follow the rolling window."""

    def __init__(self, size: int, build):
        self.size = int(size)
        self.build = build
        self.samples: list[np.ndarray] = []
        self._anchor: WarmupAnchor | None = None
        self._built_from = 0  # how many samples _anchor was built from

    @property
    def complete(self) -> bool:
        return len(self.samples) >= self.size

    def add(self, embedding: np.ndarray) -> None:
        """The stream's next sample (D,); kept while the warm-up is not complete."""
        if not self.complete:
            self.samples.append(np.asarray(embedding, np.float32))

    @property
    def anchor(self) -> WarmupAnchor | None:
        """The anchor from the warm-up samples so far (None before the first)."""
        if self.samples and self._built_from != len(self.samples):
            self._anchor = self.build(np.stack(self.samples))
            self._built_from = len(self.samples)
        return self._anchor


class WindowScorer:
    """Re-scores the whole window after every batch (``vad watch`` before the incremental
    scorer): the reference :class:`IncrementalScorer` is compared with. With NOVA's anchor the
    window is scored against the stream's warm-up anchor (:class:`StreamWarmup`, built by
    :meth:`Detector.warmup_anchor`), as ``vad watch`` did before it."""

    def __init__(self, detector, sample_fps: float, window_s: float, name: str = ""):
        self.detector = detector
        self.fps = float(sample_fps)
        self.name = name
        self.embeddings: deque[np.ndarray] = deque(maxlen=window_capacity(window_s, sample_fps))
        self.warmup = StreamWarmup(detector.scoring.warmup_samples, self._build_anchor)

    def _build_anchor(self, warm: np.ndarray) -> WarmupAnchor:
        n = len(warm)
        emb = VideoEmbeddings(warm, np.arange(n), np.arange(n) / self.fps, n, self.fps, n)
        return self.detector.warmup_anchor(emb)

    def add(self, embeddings: np.ndarray) -> list[Scored | None]:
        """Scores of the new samples ``embeddings`` (b,D), in order (None for one that no
        longer fits the window: more new samples than it holds)."""
        for e in np.asarray(embeddings, np.float32):
            self.embeddings.append(e)
            self.warmup.add(e)
        n = len(self.embeddings)
        # the window as a regularly sampled "video" of n frames: frame i is sample i
        emb = VideoEmbeddings(
            embeddings=np.stack(self.embeddings),
            indices=np.arange(n),
            times=np.arange(n) / self.fps,
            num_frames=n,
            fps=self.fps,
            reported_frames=n,
        )
        anchor = self.warmup.anchor if self.detector.scoring.anchor == "nova" else None
        result = self.detector.score_embeddings(emb, video=self.name, anchor=anchor)
        scene = result["context"].get("scene")
        first = n - len(embeddings)
        out: list[Scored | None] = []
        for i in range(first, n):
            if i < 0:
                out.append(None)
                continue
            events = result["events"]
            inside = [e for e in events if e["start_frame"] <= i <= e["end_frame"]]
            descriptions = inside[0]["descriptions"] if inside else []
            explained = None
            if inside and "explanation" in inside[0]:
                keys = ("label", "explanation", "nearest_descriptions")
                explained = {k: inside[0][k] for k in keys if k in inside[0]}
            out.append(Scored(float(result["scores"][i]), descriptions, scene, explained))
        return out


@dataclass
class _Reference:
    """The scene posterior (S,) of a window (None without context), its anchor (D,) float32
    (None without), and what moves a cosine to the anchor onto the head's scale: for the
    trimmed-mean anchor and the softmax and knn-vote heads the window's two medians
    (:func:`vad.scoring.calibrate_anchor`), for NOVA's anchor its ``text_offset``."""

    posterior: np.ndarray | None
    anchor: np.ndarray | None = None
    medians: tuple | None = None
    offset: float = 0.0


class IncrementalScorer:
    """Scores one stream's samples as they arrive, with the detector's recipe, from the last
    ``window_s`` seconds (module docstring). ``max_batch``: the most samples one :meth:`add`
    call scores together (more are split)."""

    def __init__(self, detector, sample_fps: float, window_s: float, max_batch: int = 32):
        if not sample_fps > 0:
            raise ValueError(f"sample fps must be positive, got {sample_fps}")
        if detector.context_window_s:
            raise ValueError(
                "a live stream's context is inferred over its rolling window (window_s); "
                "the detector's context_window_s must be None"
            )
        self.detector = detector
        self.fps = float(sample_fps)
        self.capacity = window_capacity(window_s, sample_fps)
        self.scoring = detector.scoring
        self.text = detector.text_embeddings()
        self.logit_scale = float(detector.encoder.logit_scale)
        self.batch = max(1, int(max_batch))
        reach = smoothing_reach(detector.window_s, self.fps, detector.smoothing)
        # one sample more than the smoothing reads (a rounding margin) and one for a
        # per-sample term that looks at its predecessor
        self.tail = min(reach + 2, self.capacity)
        self._slots = self.capacity + self.batch  # a batch's outputs still see their windows
        self._rows_kept = self.tail + self.batch
        self._next = 0  # global index of the next sample
        self._emb: np.ndarray | None = None
        self._context = self._fixed_context()
        self._uses_scenes = self._context is None or self._context.posterior is not None
        anchored = self.scoring.anchor != "none"
        self._legacy = self.scoring.head == "softmax" and not anchored
        self._head = None if self._legacy else all_scopes(self.scoring, self.text, self.logit_scale)
        self.warmup = StreamWarmup(self.scoring.warmup_samples, self._warmup_anchor)
        # what explains an event: the head without the anchor (none for the softmax head,
        # whose anchor-free recipe is the original one), from the samples' kept cosines
        self._explains_anchor = bool(detector.explain and anchored)
        self._free_head = None
        if self._explains_anchor and self.scoring.head != "softmax":
            free = replace(self.scoring, anchor="none")
            self._free_head = all_scopes(free, self.text, self.logit_scale)
        self._runs = _DescriptionRun(detector.event_threshold, MERGE_GAP_S * self.fps)

    @property
    def samples(self) -> int:
        """Samples scored so far."""
        return self._next

    def add(self, embeddings: np.ndarray) -> list[Scored]:
        """Scores of the new samples ``embeddings`` (b,D) of this stream, in order; each one
        from the samples up to and including it."""
        x = np.asarray(embeddings, np.float32)
        x = x.reshape(len(x), -1)
        out: list[Scored] = []
        for start in range(0, len(x), self.batch):
            out += self._add(x[start : start + self.batch])
        return out

    # -- the ring of the window --------------------------------------------------------------

    def _allocate(self, dim: int) -> None:
        p = self._slots
        self._emb = np.zeros((p, dim), np.float32)
        self._table: np.ndarray | None = None  # what is kept of each sample (_values), made
        # at the first sample (its shape is the head's)
        self._scopes = 1 + (len(self.text.scenes) if self._uses_scenes else 0)
        self._best = np.zeros(p, np.float32)  # each sample's highest cosine to a description
        if self._free_head is not None:  # each sample's cosines to the descriptions
            self._sims = np.zeros((p, len(self.text.labels)), np.float32)
        if self.scoring.refine == "knn":
            self._unit = np.zeros((p, dim), np.float32)
            self._rows = np.zeros((self._rows_kept, p), np.float32)
            self._row_of = np.full(self._rows_kept, -1, np.int64)

    def _window(self, g: int, length: int | None = None) -> np.ndarray:
        """Slots of the window that ends with sample ``g``, oldest first."""
        c = min(self.capacity if length is None else length, g + 1)
        return np.arange(g - c + 1, g + 1) % self._slots

    def _push(self, g: int, x: np.ndarray, best: float) -> None:
        slot = g % self._slots
        self._emb[slot] = x
        self._best[slot] = best
        if self.scoring.refine != "knn":
            return
        # as the kNN graph of vad score: cosines of the re-normalised embeddings in float32
        self._unit[slot] = _normalize(x[None])[0]
        row = self._unit @ self._unit[slot]  # its cosine to every slot (stale ones masked later)
        kept = self._row_of >= 0
        self._rows[kept, slot] = row[self._row_of[kept] % self._slots]
        self._rows[g % self._rows_kept] = row
        self._row_of[g % self._rows_kept] = g

    def _add(self, x: np.ndarray) -> list[Scored]:
        if self._emb is None:
            self._allocate(x.shape[1])
        sims = x @ self.text.descriptions.astype(np.float32).T  # (b, M)
        best = sims.max(axis=1) if sims.shape[1] else np.zeros(len(x))
        first = self._next
        refs = []
        for k in range(len(x)):
            self._push(first + k, x[k], float(best[k]))
            self.warmup.add(x[k])
            refs.append(self._reference(first + k))
        kept = self._values(x, sims)
        if self._table is None:
            self._table = np.zeros((self._slots, *kept.shape[1:]))
        new = np.arange(first, first + len(x)) % self._slots
        self._table[new] = kept
        if self._free_head is not None:
            self._sims[new] = sims
        out = []
        for k in range(len(x)):
            out.append(self._scored(first + k, x[k], refs[k]))
        self._next = first + len(x)
        return out

    # -- the recipe, step by step ------------------------------------------------------------

    def _fixed_context(self) -> Context | None:
        """The context when it does not depend on the footage (``none`` or given text)."""
        mode = self.detector.context.strip()
        if mode.lower() == "none":
            return Context("none", None)
        if mode.lower() == "auto":
            return None
        det = self.detector
        scenes = self.text.scenes
        return fixed_context(mode, det.bank, scenes, det.encoder.encode_text, self.logit_scale)

    def _warmup_anchor(self, warm: np.ndarray) -> WarmupAnchor:
        """NOVA's anchor from the warm-up samples ``warm`` (n,D), in the context inferred on
        them, as :meth:`Detector.warmup_anchor` builds it (the fixed context is not encoded
        again)."""
        if self._context is not None:
            posterior = self._context.posterior
        else:
            posterior = scene_posterior(robust_mean(warm), self.text.scenes, self.logit_scale)
        times = np.arange(len(warm)) / self.fps
        return warmup_anchor(warm, times, self.text, posterior, self.scoring, self.logit_scale)

    def _reference(self, g: int) -> _Reference:
        """Scene context and anchor of the window ending with sample ``g``,
        as :meth:`Detector.infer_context` and :func:`vad.scoring.score.score_samples` find them for
        the last sample of that window; NOVA's anchor is the stream's warm-up anchor as it
        stands at ``g`` (:class:`StreamWarmup`)."""
        mode = self.scoring.anchor
        if self._context is not None and mode != "mean":
            posterior = self._context.posterior
        else:
            slots = self._window(g)
            centre = robust_mean(self._emb[slots])
            posterior = (
                scene_posterior(centre, self.text.scenes, self.logit_scale)
                if self._context is None
                else self._context.posterior
            )
        if mode == "none":
            return _Reference(posterior)
        if mode == "nova":
            warm = self.warmup.anchor
            vector = np.asarray(warm.vector, np.float32)
            return _Reference(posterior, vector, offset=float(warm.text_offset))
        anchor = centre.astype(np.float32)
        medians = None
        if self.scoring.head != "margin":  # calibrate_anchor over the window
            medians = (np.median(self._emb[slots] @ anchor), np.median(self._best[slots]))
        return _Reference(posterior, anchor, medians)

    def _anchor_sims(self, slots: np.ndarray, ref: _Reference) -> np.ndarray | None:
        """The cosines of the samples in ``slots`` to the anchor of ``ref``, on the head's
        scale (as :func:`vad.scoring.score.score_samples` computes them for a window)."""
        if ref.anchor is None:
            return None
        sims = self._emb[slots] @ ref.anchor
        if ref.medians is not None:
            sims = sims - ref.medians[0] + ref.medians[1]
        elif ref.offset:
            sims = sims + np.float32(ref.offset)  # float32, as score_samples adds it
        return sims

    def _values(self, x: np.ndarray, sims: np.ndarray) -> np.ndarray:
        """What is kept of each new sample (b, ...): the head's pieces over every scope, from
        which :meth:`_mixed` gets its values for any anchor; for the original recipe (no
        anchor) the values themselves, per scope (b, 1 + S): context-free, then each scene's."""
        if self._head is not None:
            return self._head.pieces(sims)
        per_scene, context_free = scene_anomaly_probabilities(
            x.astype(np.float64), self.text, self.logit_scale, with_scenes=self._uses_scenes
        )
        return np.c_[context_free, per_scene]

    def _mixed(self, slots: np.ndarray, ref: _Reference, anchored: bool = True) -> np.ndarray:
        """The head's values of the samples in ``slots`` against the anchor of ``ref`` (the
        newest sample's), mixed over the scenes by its posterior: what
        :func:`vad.scoring.score.score_samples` gives these samples in the newest window.
        ``anchored=False``: the same without the anchor (what explains an event)."""
        legacy = self._legacy
        if not anchored:
            legacy = self._free_head is None
            if legacy:
                per_scene, context_free = scene_anomaly_probabilities(
                    self._emb[slots].astype(np.float64), self.text, self.logit_scale
                )
                table = np.c_[context_free, per_scene]
            else:
                pieces = self._free_head.pieces(self._sims[slots])
                table = self._free_head.values(pieces, None)
        elif self._head is None:
            table = self._table[slots]
        else:
            table = self._head.values(self._table[slots], self._anchor_sims(slots, ref))
        table = table[:, : self._scopes]
        context_free, posterior = table[:, 0], ref.posterior
        if posterior is None:
            return context_free
        per_scene = table[:, 1:]
        if legacy:
            return mix_context(per_scene, context_free, posterior)
        # a scene under 0.1% of the posterior is scored context-free, as in score_samples
        weak = posterior < MIN_SCENE_WEIGHT
        per_scene = np.where(weak[None, :], context_free[:, None], per_scene)
        return mix_values(per_scene, context_free, posterior, self.scoring.margin_values)

    def _scored(self, g: int, x: np.ndarray, ref: _Reference) -> Scored:
        """Sample ``g``'s score: the tail's values refined over their neighbours, turned into
        probabilities, calibrated and smoothed, as :meth:`Detector.score_embeddings` does for
        a whole window; at or above the threshold, what fired and what drove it."""
        scoring, det = self.scoring, self.detector
        tail = np.arange(g - min(self.tail, g + 1) + 1, g + 1)
        times = tail / self.fps
        refine = self._neighbours(g, tail) if scoring.refine == "knn" else None

        def values(anchored: bool = True) -> np.ndarray:
            if refine is None:
                return self._mixed(tail % self._slots, ref, anchored)
            slots, where, w = refine  # knn_refine over the window, for the tail's rows only
            return (w * self._mixed(slots, ref, anchored)[where]).sum(axis=1)

        def smoothed(v: np.ndarray) -> np.ndarray:
            return smooth(v, times, det.window_s, det.smoothing)

        # the parts of the score as score_embeddings makes them: the head's probability, the
        # motion gate (each tail sample's predecessor and successor are in the tail but the
        # first's, which the smoothing does not read, and the newest's: the window's edge),
        # a calibration's novelty; smoothed last
        embeddings = self._emb[tail % self._slots]
        parts = score_parts(values(), times, scoring, embeddings)
        if det.sample_novelty is not None:  # per sample: the tail is enough
            n = len(tail)
            emb = VideoEmbeddings(embeddings, tail, times, n, self.fps, n)
            parts.novelty, parts.novelty_weight = det.sample_novelty(emb)
        final = smoothed(parts.score())
        score = round(float(np.clip(final[-1], 0.0, 1.0)), 6)
        scene = None
        if ref.posterior is not None:
            scene = det.bank.scenes[int(np.argmax(ref.posterior))].name
        if not (score >= self._runs.threshold or self._runs.active):
            return Scored(score, [], scene)
        idx, sim = top_anomalous_descriptions(x[None], self.text, ref.posterior)
        descriptions = self._runs.update(g, score, idx[0], sim[0], self.text)
        if score < self._runs.threshold or not det.explain:
            return Scored(score, descriptions, scene)
        if self._explains_anchor:  # the anchor's effect: the same without it
            free = replace(scoring, anchor="none", motion_gate="off")  # the probability only
            parts.anchor_free = score_parts(values(anchored=False), times, free).semantic
        threshold = self._runs.threshold
        explanation = explain_peak(parts, times, times[-1], score, threshold, smoothed)
        event = describe_event({"descriptions": descriptions}, explanation)
        return Scored(score, event.pop("descriptions"), scene, event)

    def _neighbours(self, g: int, tail: np.ndarray):
        """The tail's ``k`` nearest samples in the window ending with ``g`` (as
        :func:`vad.scoring.heads.knn_graph`: those closer in time than ``refine_min_gap_s`` left
        out, but the sample itself): their slots, each tail row's positions among them, and the
        refinement's weights (0 for a left-out one that fills a short row); None when ``k`` is
        1 (no refinement)."""
        scoring = self.scoring
        window = self._window(g)
        n = len(window)
        k = min(scoring.refine_k, n)
        if k <= 1:
            return None
        rows = self._rows[tail % self._rows_kept][:, window]
        gap = float(scoring.refine_min_gap_s)
        if gap > 0:  # the re-score's times: the window's samples at 0, 1/fps, ...
            t = np.arange(n) / self.fps
            local = tail - (g - n + 1)
            near = np.abs(t[local, None] - t[None, :]) < gap
            near[np.arange(len(tail)), local] = False
            rows[near] = -np.inf
        idx = np.argpartition(-rows, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(rows, idx, axis=1).astype(np.float64)
        top /= scoring.refine_temperature
        w = np.exp(top - top.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        need, where = np.unique(idx, return_inverse=True)  # each neighbour evaluated once
        return window[need], where.reshape(idx.shape), w

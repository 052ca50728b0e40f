"""The detector, top to bottom: sample frames -> encode -> scene context -> score against the
prompt bank -> smooth -> one score per decoded frame -> events.

>>> det = Detector(model="ViT-B-16", pretrained="openai", context="auto")   # doctest: +SKIP
>>> result = det.score("clip.mp4")                                           # doctest: +SKIP
>>> len(result["scores"]) == result["num_frames"]                            # doctest: +SKIP
True

The stage functions :func:`lookup_cache`, :func:`encode_pixels` and :func:`assemble` are the
only copy of "cache, decode, encode": the Ray engine (:mod:`vad.engines.ray`) calls them too.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from vad.cache import EmbeddingCache, VideoEmbeddings, default_cache_dir, embedding_identity
from vad.clock import ClockStart, add_clock, container_clock
from vad.devices import parse_device
from vad.media.files import check_input_file
from vad.media.frames import VideoError
from vad.media.frames import frame_times as frame_times_of
from vad.media.sampler import FrameSampler
from vad.media.worker import DecodeWorker
from vad.model.prompts import PromptBank
from vad.model.runtime import (
    PRECISIONS,
    RUNTIMES,
    Precision,
    Runtime,
    build_encoder,
    check_choice,
    encoder_facts,
)
from vad.scoring.context import Context, context_embeddings, fixed_context, scene_posterior
from vad.scoring.explain import describe_event, explain_peak
from vad.scoring.heads import Scoring, anchor_mode, motion_gate_mode
from vad.scoring.score import (
    WarmupAnchor,
    score_parts,
    score_samples,
    top_anomalous_descriptions,
    warmup_anchor,
)
from vad.scoring.temporal import find_events, smooth, to_frame_scores
from vad.scoring.text import load_or_build_text

log = logging.getLogger(__name__)
SCORE_DECIMALS = 6


class _Rows:
    """Rows appended batch by batch to one array that grows geometrically.

    Per-batch results kept in a list of small arrays are long-lived blocks scattered among the
    encoder's large short-lived buffers: they fragment the heap, and the process's memory grew
    by about one batch of frames per batch encoded (1.9x the RSS on a 30-minute video)."""

    def __init__(self, dtype, capacity: int = 1024):
        self.dtype = dtype
        self.capacity = capacity
        self.data: np.ndarray | None = None
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def append(self, rows) -> None:
        rows = np.asarray(rows, dtype=self.dtype)
        end = self.n + len(rows)
        if self.data is None or end > len(self.data):
            size = max(end, self.capacity if self.data is None else 2 * len(self.data))
            grown = np.empty((size, *rows.shape[1:]), dtype=self.dtype)
            if self.data is not None:
                grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : end] = rows
        self.n = end

    def array(self) -> np.ndarray:
        """The rows so far, as a compact array of their own."""
        if self.data is None:
            return np.zeros(0, dtype=self.dtype)
        return self.data[: self.n].copy()


def lookup_cache(
    path: str | Path, cache_dir: str | Path, identity: dict | None, sample_fps: float | None
) -> tuple[EmbeddingCache | None, str | None, VideoEmbeddings | None]:
    """``(cache, key, hit)`` for ``path``: its embedding-cache entry under ``identity`` (see
    :func:`~vad.cache.embedding_identity`), ``hit`` None when there is none yet. All None when
    ``identity`` is None (no caching) or ``path`` is not a regular file (hashing a pipe or a
    device would block)."""
    if identity is None or not Path(path).is_file():
        return None, None, None
    cache = EmbeddingCache(cache_dir)
    key = cache.key(path, identity, sample_fps)
    return cache, key, cache.get(key)


def encode_pixels(encoder, batches: Iterable[np.ndarray]) -> np.ndarray:
    """Embeddings (N,D float32) of model-sized uint8 frame batches (n,3,h,w), batch by batch.
    Each batch is queued before the last one's result is awaited, so a GPU never idles."""
    submit = getattr(encoder, "submit_pixels", None)
    collect = getattr(encoder, "collect", np.asarray)
    if submit is None:  # an encoder without the uint8 entry point (test stand-ins)

        def submit(pixels):
            return encoder.encode_images(encoder.preprocess.normalize(pixels))

    # Only the (N,D) embeddings accumulate; frames stream through.
    embeddings = _Rows(np.float32)
    pending = None
    for pixels in batches:
        submitted = submit(pixels)
        if pending is not None:
            embeddings.append(collect(pending))
        pending = submitted
    if pending is not None:
        embeddings.append(collect(pending))
    return embeddings.array()


def assemble(path, video, embeddings, indices, times) -> VideoEmbeddings:
    """A video's :class:`VideoEmbeddings` from its sampled frames' embeddings, indices and times
    and what decoding found (``video``: a :class:`~vad.media.worker.DecodedVideo`)."""
    if not len(embeddings):  # frames were counted but none of the sampled ones decoded
        raise VideoError(f"{path}: no frames could be decoded")
    return VideoEmbeddings(
        embeddings=embeddings,
        indices=indices,
        times=times,
        num_frames=video.num_decoded,
        fps=video.fps,
        reported_frames=video.reported_frames,
        warnings=video.warnings,
        frame_times=getattr(video, "frame_times", None),  # a variable frame rate's timestamps
    )


class Detector:
    """Context-aware zero-shot video anomaly detector.

    Parameters
    ----------
    model, pretrained, device : the OpenCLIP model and where it runs (see :class:`ClipEncoder`).
    runtime : ``"auto"`` (OpenVINO on a CPU, torch on a GPU), ``"torch"`` or ``"openvino"``
        (:mod:`vad.model.runtime`).
    precision : ``"auto"``, ``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"int8"`` (OpenVINO only).
    context : ``"auto"`` (infer the scene), ``"none"`` (context-free baseline) or free text
        naming the scene (``"a bank vault"``).
    prompts : a prompt-bank YAML file, the name of a shipped bank, or a loaded
        :class:`~vad.model.prompts.PromptBank` (read nothing from disk).
    sample_fps : frames per second to encode (by timestamp).
    batch_size : frames per encoder batch.
    smoothing, window_s : temporal smoothing method and window in seconds.
    context_window_s : infer the context over sliding windows of this length instead of the
        whole video (for long or moving-camera footage).
    event_threshold : per-frame score at or above which a span becomes an event.
    cache_dir, use_cache : the cache folder (``None`` = the user cache dir); ``use_cache=False``
        neither reads nor writes the videos' embeddings (prompt-bank embeddings and model
        exports are still kept and reused).
    decode_timeout_s : a video whose decoding makes no progress for this long is abandoned
        (decoding runs in an isolated worker process, so a hung decoder cannot freeze a batch).
    isolate_decoding : ``False`` decodes in a thread of this process instead.
    encoder : an already-built encoder to use (shares one model between detectors).
    head, anchor, refine, motion_gate : the scoring recipe (:class:`vad.scoring.heads.Scoring`,
        docs/quality.md): ``"softmax"``, ``"none"``, ``"none"``, ``"off"`` is the original one;
        ``"margin"``, ``"nova"``, ``"none"``, ``"nova"`` NOVA's (``anchor`` and
        ``motion_gate`` also take ``True``/``False``).
    explain : each event records what drove it (:mod:`vad.scoring.explain`; with the anchor on, the
        samples of a video with events are scored once more without it). ``False`` leaves
        events unexplained where only scores are read (ablations).
    start_time : the wall-clock time (ISO-8601) of the videos' first frame; by default each
        video's container says it when it can (creation time, timecode; :mod:`vad.clock`).
        Results then carry clock times beside the seconds.

    ``sample_novelty``, when set, is called as ``sample_novelty(emb)`` and returns
    ``(novelty, weight)``: each sample's novelty ``n(x)`` in [0, 1] and its weight; the sample's
    probability ``s`` (after the motion gate) becomes ``1 - (1 - s) * (1 - weight * n)`` before
    smoothing (a camera calibration's novelty term, :mod:`vad.scoring.calibration`).

    A detector holds a model and a decode worker process: reuse it for many videos, and
    ``close()`` it (or use it as a context manager) when done.
    """

    def __init__(
        self,
        model: str = "ViT-B-16",
        pretrained: str | None = "openai",
        context: str = "auto",
        prompts: str | Path | PromptBank = "default",
        sample_fps: float = 2.0,
        batch_size: int = 32,
        device: str = "auto",
        precision: Precision = "auto",
        smoothing: str = "gaussian",
        window_s: float = 1.667,
        context_window_s: float | None = None,
        event_threshold: float = 0.5,
        backend: str = "auto",
        cache_dir: str | Path | None = None,
        use_cache: bool = True,
        decode_timeout_s: float = 60.0,
        isolate_decoding: bool = True,
        encoder=None,
        head: str = "margin",
        anchor: str | bool = "nova",
        refine: str = "none",
        motion_gate: str | bool = "off",
        runtime: Runtime = "auto",
        explain: bool = True,
        start_time: str | None = None,
    ):
        self.model = model
        self.pretrained = pretrained or "none"
        self.context = context or "auto"
        self.prompts = prompts
        self.sample_fps = sample_fps
        self.batch_size = batch_size
        parse_device(device)  # a malformed device is an error now, not at the first batch
        self.device = device
        self.precision = check_choice("precision", precision, PRECISIONS)
        self.runtime = check_choice("runtime", runtime, RUNTIMES)
        self.smoothing = smoothing
        self.window_s = window_s
        self.context_window_s = context_window_s
        self.event_threshold = event_threshold
        self.backend = backend
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.use_cache = use_cache
        if not decode_timeout_s > 0:
            raise ValueError(
                f"decode timeout must be a positive number of seconds, got {decode_timeout_s}"
            )
        self.decode_timeout_s = decode_timeout_s
        self.isolate_decoding = isolate_decoding
        self.head = head
        self.anchor = anchor_mode(anchor)  # True/False (older configs) -> nova/none
        self.refine = refine
        self.motion_gate = motion_gate_mode(motion_gate)
        self.scoring  # noqa: B018 - an unknown head or refinement fails here
        self.explain = explain
        self.start_time = start_time
        self.clock_start = None if start_time is None else ClockStart.parse(start_time)
        if isinstance(prompts, PromptBank):
            self.bank = prompts
        elif isinstance(prompts, (str, Path)):
            self.bank = PromptBank.from_yaml(prompts)
        else:
            raise TypeError(
                "prompts must be a bank file, a shipped bank's name or a PromptBank; "
                f"got {type(prompts).__name__}"
            )
        self.sampler = FrameSampler(sample_fps, batch_size, backend)
        self._encoder = encoder
        self._decoder: DecodeWorker | None = None
        self._text: dict[bool, object] = {}
        self.on_samples = None  # called with the number of frames of each encoded batch
        self.sample_novelty = None

    # -- stage 2: the encoder, loaded once and shared by every video ---------------------------

    @property
    def encoder(self):
        if self._encoder is None:
            if self.isolate_decoding:  # the decode worker boots (imports) while the model loads
                self.decoder.start()
            self._encoder = build_encoder(
                self.model,
                self.pretrained,
                self.device,
                self.precision,
                self.runtime,
                self.cache_dir,
            )
        return self._encoder

    # -- stages 1-2: sample and encode one video -----------------------------------------------

    def embed(self, path: str | Path) -> VideoEmbeddings:
        """Frame embeddings of ``path``, from the cache when this video was encoded before."""
        check_input_file(Path(path))  # a missing or empty file fails here, not in the hash
        identity = None
        if self.use_cache and getattr(self.encoder, "cacheable", False):
            identity = embedding_identity(self.encoder.identity(), self.backend)
        cache, key, hit = lookup_cache(path, self.cache_dir, identity, self.sample_fps)
        if hit is not None:
            return hit
        emb = self._encode_video(path)
        emb.made_by = encoder_facts(self.encoder)
        if cache is not None:
            cache.put(key, emb)
        return emb

    def cached_embeddings(self, path: str | Path) -> VideoEmbeddings | None:
        """``path``'s frame embeddings from the cache, or None when they are not there. A file
        version whose content hash is remembered is not hashed again (:meth:`EmbeddingCache.key`
        with ``trust_signature``): looking up hours of footage reads no video bytes."""
        check_input_file(Path(path))
        if not (self.use_cache and getattr(self.encoder, "cacheable", False)):
            return None
        if not Path(path).is_file():
            return None
        identity = embedding_identity(self.encoder.identity(), self.backend)
        cache = EmbeddingCache(self.cache_dir)
        return cache.get(cache.key(path, identity, self.sample_fps, trust_signature=True))

    def search(
        self, query: str | Path, paths, top: int = 10, min_similarity: float | None = None
    ) -> dict:
        """The ``top`` moments of the videos ``paths`` most like ``query`` (a text, or an image
        file), best first, from the cached embeddings (footage not cached is encoded first and
        cached). A JSON-ready dict: ``moments`` (video, start/end/peak seconds, clock times when
        known, similarity), ``videos``, ``hours`` searched, ``errors``
        (:mod:`vad.scoring.search`)."""
        from vad.scoring.search import search

        return search(self, query, paths, top=top, min_similarity=min_similarity).to_dict()

    @property
    def decoder(self) -> DecodeWorker:
        if self._decoder is None:
            self._decoder = DecodeWorker(
                self.sampler, None, self.decode_timeout_s, isolate=self.isolate_decoding
            )
        return self._decoder

    def _encode_video(self, path: str | Path) -> VideoEmbeddings:
        decoder = self.decoder
        decoder.start()  # the worker process boots while the model loads
        encoder = self.encoder
        decoder.preprocess = encoder.preprocess
        video, batches = decoder.stream(path)
        indices, times = _Rows(np.int64), _Rows(np.float64)

        def pixels():
            for batch in batches:
                indices.append(batch.indices)
                times.append(batch.times)
                yield batch.pixels
                if self.on_samples is not None:  # the batch went to the encoder: progress
                    self.on_samples(len(batch.indices))

        embeddings = encode_pixels(encoder, pixels())
        return assemble(path, video, embeddings, indices.array(), times.array())

    def close(self) -> None:
        """Stop the decode worker process."""
        if self._decoder is not None:
            self._decoder.close()

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- stages 3-4: prompt bank and scene context ----------------------------------------------

    @property
    def scoring(self) -> Scoring:
        return Scoring(
            head=self.head, anchor=self.anchor, refine=self.refine, motion_gate=self.motion_gate
        )

    def text_embeddings(self):
        repulsive = self.scoring.repulsive
        if repulsive not in self._text:
            # kept even with use_cache=False (--no-cache), like the exports: it skips the
            # videos' embeddings only, and a warm run then needs no tokenizer (no torch)
            self._text[repulsive] = load_or_build_text(
                self.bank, self.encoder, self.cache_dir, repulsive
            )
        return self._text[repulsive]

    def infer_context(self, emb: VideoEmbeddings) -> Context:
        text = self.text_embeddings()
        scale = self.encoder.logit_scale
        mode = self.context.strip()
        if mode.lower() == "none":
            return Context("none", None)
        if mode.lower() == "auto":
            ctx = context_embeddings(emb.embeddings, emb.times, self.context_window_s)
            posterior = scene_posterior(ctx, text.scenes, scale)
            return Context("auto", posterior[0] if not self.context_window_s else posterior)
        return fixed_context(mode, self.bank, text.scenes, self.encoder.encode_text, scale)

    # -- stages 5-7: score, smooth, per-frame scores, events ------------------------------------

    def warmup_anchor(self, emb: VideoEmbeddings) -> WarmupAnchor:
        """NOVA's anchor from the first samples of ``emb`` (``vad watch``: a stream's warm-up),
        in the context inferred on them; pass it to :meth:`score_embeddings` as ``anchor``."""
        context = self.infer_context(emb)
        return warmup_anchor(
            emb.embeddings,
            emb.times,
            self.text_embeddings(),
            context.posterior,
            self.scoring,
            self.encoder.logit_scale,
        )

    def score_embeddings(
        self,
        emb: VideoEmbeddings,
        video: str | Path = "",
        anchor: WarmupAnchor | None = None,
        components: dict | None = None,
    ) -> dict:
        """Score already-computed embeddings: the JSON-ready result for one video.

        ``anchor``: NOVA's anchor built before (a stream's warm-up, :meth:`warmup_anchor`);
        None builds it from the first samples of ``emb``. ``components``, a dict when given,
        receives per-sample arrays that explain the scores (``preliminary``: the anchor-free
        probability; ``probability``: before the motion gate; ``motion``, ``motion_gate``:
        the gate's input and factor; ``anchor_similarity``; see :func:`score_samples` and
        :func:`to_probabilities`)."""
        text = self.text_embeddings()
        context = self.infer_context(emb)
        scoring = self.scoring
        values = score_samples(
            emb.embeddings,
            emb.times,
            text,
            context.posterior,
            scoring,
            self.encoder.logit_scale,
            self.context_window_s,
            memo=getattr(emb, "derived", None),  # re-scoring (ablation) reuses the kNN graph
            anchor=anchor,
            components=components,
        )
        # the parts of each sample's score, in NOVA's order: the head's probability, times the
        # motion gate, then a calibration's novelty; smoothed last, whichever parts there are,
        # so the calibrated recipe is the evaluated one
        parts = score_parts(values, emb.times, scoring, emb.embeddings, components)
        if self.sample_novelty is not None:
            parts.novelty, parts.novelty_weight = self.sample_novelty(emb)
            if components is not None:
                components["novelty"] = parts.novelty
        raw = parts.score()
        smoothed = smooth(raw, emb.times, self.window_s, self.smoothing)
        frame_times = getattr(emb, "frame_times", None)  # a variable frame rate's timestamps
        frame_scores = np.clip(
            to_frame_scores(emb.times, smoothed, emb.num_frames, emb.fps, frame_times), 0, 1
        )
        frame_scores = np.round(frame_scores, SCORE_DECIMALS)
        top_idx, top_sim = top_anomalous_descriptions(emb.embeddings, text, context.posterior)
        classes = [text.class_names[c] if c >= 0 else None for c in text.classes.tolist()]
        events = self._events(frame_scores, emb, top_idx, top_sim, text.labels, classes)
        if self.explain:
            self._explain(events, parts, emb, text, context.posterior)
        warnings = list(emb.warnings)
        if getattr(self.encoder, "random_weights", False):
            warnings.append("random model weights: scores are meaningless (speed tests only)")
        result = {
            "video": str(video),
            "fps": round(float(emb.fps), 6),
            "num_frames": int(emb.num_frames),
            "reported_frames": int(emb.reported_frames),
            "sample_fps": self.sample_fps,
            "num_samples": len(emb.indices),
            "model": self.model,
            "pretrained": getattr(self.encoder, "pretrained_label", self.pretrained),
            **encoder_facts(self.encoder),
            "prompts": self.bank.name,
            "context": context.summary(self.bank),
            "smoothing": {"method": self.smoothing, "window_s": self.window_s},
            "scoring": scoring.summary(),
            "event_threshold": self.event_threshold,
            "scores": frame_scores.tolist(),
            "events": events,
            "samples": {
                "frames": emb.indices.tolist(),
                "times": np.round(emb.times, SCORE_DECIMALS).tolist(),
                "scores": np.round(raw, SCORE_DECIMALS).tolist(),
            },
            "warnings": warnings,
            # every frame's timestamp, only where they are not frame / fps (variable rate)
            **({} if frame_times is None else {"frame_times": np.round(frame_times, 6).tolist()}),
        }
        return add_clock(result, self.clock_of(video))

    def _explain(self, events: list[dict], parts, emb: VideoEmbeddings, text, posterior) -> None:
        """Record in each event what drove its peak (:mod:`vad.scoring.explain`); with the
        anchor on, the samples are scored once more without it to show the anchor's effect."""
        if events and self.scoring.anchor != "none":
            free = replace(self.scoring, anchor="none", motion_gate="off")  # its probability only
            values_free = score_samples(
                emb.embeddings, emb.times, text, posterior, free,
                self.encoder.logit_scale, self.context_window_s,
                memo=getattr(emb, "derived", None),
            )  # fmt: skip
            parts.anchor_free = score_parts(values_free, emb.times, free).semantic
        for event in events:
            explanation = explain_peak(
                parts, emb.times, event["peak_s"], event["peak_score"], self.event_threshold,
                lambda v: smooth(v, emb.times, self.window_s, self.smoothing),
            )  # fmt: skip
            describe_event(event, explanation)

    def clock_of(self, video: str | Path) -> ClockStart | None:
        """The wall-clock start of ``video``: ``start_time`` when given, else what its container
        says (None for a stream, or a file that says nothing)."""
        if self.clock_start is not None:
            return self.clock_start
        return container_clock(video) if video else None

    def _events(self, frame_scores, emb, top_idx, top_sim, labels, classes=None) -> list[dict]:
        out = []
        fps = emb.fps
        ft = getattr(emb, "frame_times", None)
        t = frame_times_of(emb.num_frames, fps, ft)
        period = float(np.median(np.diff(t))) if len(t) > 1 else 1.0 / fps
        for start, end in find_events(frame_scores, fps, self.event_threshold, frame_times=ft):
            peak = start + int(np.argmax(frame_scores[start : end + 1]))
            inside = (emb.indices >= start) & (emb.indices <= end)
            if not inside.any():  # a short span between samples: use the nearest sample
                inside = np.zeros(len(emb.indices), bool)
                inside[int(np.argmin(np.abs(emb.indices - peak)))] = True
            counts = Counter(top_idx[inside, 0].tolist())
            sims: dict[int, list[float]] = {}
            for row_idx, row_sim in zip(top_idx[inside], top_sim[inside], strict=True):
                for i, s in zip(row_idx, row_sim, strict=True):
                    sims.setdefault(int(i), []).append(float(s))
            ranked = sorted(sims, key=lambda i: (-counts.get(i, 0), -np.mean(sims[i])))[:3]
            out.append(
                {
                    "start_frame": start,
                    "end_frame": end,
                    "start_s": round(float(t[start]), 3),
                    "end_s": round(float(t[end + 1] if end + 1 < len(t) else t[end] + period), 3),
                    "peak_s": round(float(t[peak]), 3),
                    "peak_score": float(frame_scores[peak]),
                    "descriptions": [
                        {
                            "text": labels[i],
                            "similarity": round(float(np.mean(sims[i])), 4),
                            **({"class": classes[i]} if classes and classes[i] else {}),
                        }
                        for i in ranked
                    ],
                }
            )
        return out

    def score(self, path: str | Path) -> dict:
        """Score one video file end to end; the same data ``vad score`` writes as JSON."""
        return self.score_embeddings(self.embed(path), video=path)

"""Ray engine: score many and long videos across CPU cores, GPUs and machines with Ray Data.

Its unit of work is a *segment*: at most ``segment_s`` seconds (default 60) of one video.

1. **plan** (CPU tasks, one per video): the local engine's input check and embedding-cache
   lookup (:func:`vad.pipeline.lookup_cache`), then the container header, which says how many
   segments the video has. A cached video ships its embeddings instead and skips 2-3.
2. **decode** (CPU tasks, one per segment; on CPU-only runs the actors decode instead, see 3):
   a thread of the task seeks to the segment and samples its frames at the model's input size
   (uint8, ~150 KB a frame at 224 px), with the local engine's decoding code and stall timeout:
   a task holds one segment, never a whole long video.
3. **encode** (``map_batches`` on an actor pool, ``ActorPoolStrategy(size=workers)``,
   ``num_gpus=gpus_per_worker``): each actor loads the model once and runs the local engine's
   :func:`vad.pipeline.encode_pixels` on whichever segment comes next. A CPU actor decodes its
   segment itself, in a thread while it encodes, as the local engine does: no decode process
   holds torch and frames beside it (the run's memory, docs/ray.md).
4. **stitch, score, write** (the driver): a video's segments, back in order, make the local
   engine's :class:`~vad.cache.VideoEmbeddings` and cache entry; a :class:`Detector` on the
   driver scores them (scene context, scoring and smoothing need the whole video) with numpy
   only: the model is loaded once by a one-off Ray task (:func:`probe_model`) that checks the
   weights and encodes the prompt bank, so the driver never imports torch. The results equal
   the local engine's.

Failures never kill the job: a video that cannot be decoded or scored becomes an outcome with
its error message; a task whose worker process dies is retried :data:`TASK_RETRIES` times, then
its video is reported as failed (``DataContext.max_errored_blocks = -1`` keeps the job going).

>>> engine = RayEngine(settings, workers=4)                                   # doctest: +SKIP
>>> for out in engine.run(paths):                                             # doctest: +SKIP
...     print(out.index, out.error or out.result["num_frames"])
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import inspect
import json
import logging
import math
import pickle
import re
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vad.cache import VideoEmbeddings, default_cache_dir, embedding_identity
from vad.devices import parse_device
from vad.engine import VideoOutcome
from vad.errors import EncoderFailure, UsageError
from vad.naming import first_line
from vad.video import VideoError

log = logging.getLogger(__name__)

MIN_RAY_VERSION = "2.60"
INSTALL_HINT = (
    '--engine ray needs Ray Data: pip install "vad[ray]" (or pip install "ray[data]>=2.60"), '
    "or use the default --engine local"
)
TASK_RETRIES = 1
"""Retries of a task or actor call whose worker process died (segfault, killed); application
errors (a broken file) are never retried - they are reported at once."""
SEGMENT_S = 60.0
"""Default segment length in seconds of video (``--segment-s``)."""


class RayEngineError(UsageError, RuntimeError):
    """Ray is missing, unreachable or cannot run the pipeline; the message says what to do."""


def import_ray():
    """``ray`` with Ray Data, or :class:`RayEngineError` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the [data] extra
    except ImportError as exc:
        raise RayEngineError(f"{INSTALL_HINT} ({exc})") from exc
    if _version_tuple(ray.__version__) < _version_tuple(MIN_RAY_VERSION):
        raise RayEngineError(
            f"--engine ray needs ray[data]>={MIN_RAY_VERSION}, found {ray.__version__}: "
            f'pip install -U "vad[ray]"'
        )
    return ray


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for p in version.split(".")[:3]:
        digits = "".join(c for c in p if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


class RayEngine:
    """The :class:`~vad.engine.Engine` on Ray: :func:`iter_ray` with fixed cluster options.
    ``settings`` are :class:`~vad.pipeline.Detector` keyword arguments."""

    def __init__(self, settings: dict, **options):
        self.settings = settings
        self.options = options  # iter_ray's keyword arguments

    def run(
        self, paths: Sequence[str | Path], *, keep_embeddings: bool = False
    ) -> Iterator[VideoOutcome]:
        return iter_ray(paths, self.settings, return_embeddings=keep_embeddings, **self.options)

    def close(self) -> None:
        """Nothing to stop: :func:`iter_ray` shuts down a Ray it started when it ends."""


class _Unpickled:
    """The encoder's ``Preprocess`` (pickled), unpickled only where frames are resized (the
    decode worker process): the driver and the Ray task that relays the frames then never
    import torch (~0.3 GB a process)."""

    def __init__(self, blob: bytes):
        self.blob = blob
        self._real = None

    def __getstate__(self) -> dict:
        return {"blob": self.blob, "_real": None}

    def resize_crop(self, frames):
        if self._real is None:
            self._real = pickle.loads(self.blob)  # our own bytes, made by the driver
        return self._real.resize_crop(frames)


# -- driver-side plan ----------------------------------------------------------------------------


@dataclass
class _Plan:
    """Everything the workers need, resolved once on the driver (plain, picklable data)."""

    settings: dict  # Detector keyword arguments for the actors
    identity: dict | None  # the actors' encoder identity (cache keys); None = no caching
    cache_root: str
    preprocess: _Unpickled  # the encoder's Preprocess: resize/crop in the decode workers
    sampler: object  # FrameSampler
    segment_s: float = SEGMENT_S
    decode_timeout_s: float = 60.0
    # CPU actors decode their segments themselves (a thread, as the local engine decodes);
    # GPU actors are fed by decode tasks on every CPU of the cluster
    decode_in_actor: bool = False


def make_plan(
    settings: dict,
    gpus_per_worker: float,
    segment_s: float,
    encoder=None,
    decode_in_actor: bool | None = None,
):
    """``(plan, scorer)``: the settings validated and the model loaded once before the actors
    start, so bad weights or a bad prompt bank are one usage error instead of N failures;
    ``scorer`` is the driver's :class:`~vad.pipeline.Detector`, which scores the stitched
    videos. With Ray running, the model is loaded by a one-off Ray task (:func:`probe_model`)
    and the driver scores with its numpy results, never importing torch (~0.9 GB less for the
    run); ``encoder``, an already loaded model, is used as it is. ``decode_in_actor``: the
    actors decode their segments themselves (default: on CPU actors, not on GPU ones)."""
    from vad.pipeline import Detector

    device = actors_device(settings.get("device") or "auto", gpus_per_worker)
    cache_root = Path(settings.get("cache_dir") or default_cache_dir()).expanduser().resolve()
    # the driver decodes nothing: no decode worker
    driver = _driver_settings(settings, device)
    scorer = Detector(**{**settings, **driver, "cache_dir": cache_root}, encoder=encoder)
    ray = sys.modules.get("ray")
    asked = settings.get("precision") or "auto"
    if encoder is None and ray is not None and ray.is_initialized():
        encoder, made_by = _probed(ray, scorer, device, asked)
    else:
        encoder, made_by = _load_here(scorer, device, asked)
    if made_by["precision"] is None:  # auto on the actors' GPUs: theirs to say (bf16 where native)
        made_by = {**made_by, "precision": _gpu_precision(ray, gpus_per_worker)}
    precision = made_by["precision"]
    identity = None
    if scorer.use_cache and getattr(encoder, "cacheable", False):
        identity = {**encoder.identity(), **made_by}
    plan = _Plan(
        # every actor runs the one precision resolved here: one video's segments never mix two
        settings={**settings, "device": device, "precision": precision,
                  "cache_dir": str(cache_root)},  # fmt: skip
        identity=identity,
        cache_root=str(cache_root),
        preprocess=_Unpickled(getattr(encoder, "preprocess_blob", None)
                              or pickle.dumps(encoder.preprocess)),
        sampler=scorer.sampler,
        segment_s=segment_s,
        decode_timeout_s=scorer.decode_timeout_s,
        decode_in_actor=gpus_per_worker <= 0 if decode_in_actor is None else decode_in_actor,
    )  # fmt: skip
    return plan, scorer


def _driver_settings(settings: dict, device: str) -> dict:
    """How the driver (or its probe) loads the model, on a CPU, decoding nothing: with the
    actors' runtime and precision when they run on CPUs too (so the prompt bank is encoded as
    they would encode it); for GPU actors, torch in fp32 (it encodes texts only: no export)."""
    if device.startswith("cuda"):
        return {"device": "cpu", "precision": "fp32", "runtime": "torch", "isolate_decoding": False}
    precision = settings.get("precision") or "auto"
    return {"device": "cpu", "precision": precision, "isolate_decoding": False}


def _without_gpu_number(device: str) -> str:
    """``device``'s kind; :class:`RayEngineError` for ``cuda:N``."""
    parsed = parse_device(device)
    if parsed.index is not None:
        raise RayEngineError(
            f"--device {parsed} with --engine ray: Ray gives each actor its own GPU (which the "
            "actor sees as cuda:0); use --device cuda, or auto"
        )
    return parsed.kind


def actors_device(device: str, gpus_per_worker: float) -> str:
    """The device the actors' encoders run on (``cpu`` or ``cuda``), or
    :class:`RayEngineError`: Ray gives each GPU actor its own GPU, which the actor sees as
    ``cuda:0``, so a GPU's number means nothing here; and GPUs must match the device."""
    kind = _without_gpu_number(device)
    if kind == "auto":
        kind = "cuda" if gpus_per_worker > 0 else "cpu"
    if kind == "cuda" and gpus_per_worker <= 0:
        raise RayEngineError(
            "--device cuda with --engine ray needs GPUs for the workers, and the Ray cluster "
            "has none: give --num-gpus-per-worker (e.g. 1) to wait for GPU nodes, or --device cpu"
        )
    if kind == "cpu" and gpus_per_worker > 0:
        raise RayEngineError(
            f"--num-gpus-per-worker {gpus_per_worker:g} with --device cpu: the actors would "
            "hold GPUs they never use; leave --num-gpus-per-worker out, or use --device cuda"
        )
    return kind


def actor_facts(encoder, device: str, precision: str) -> dict:
    """``{"runtime", "precision"}`` of the actors' encoders: on CPUs, what ``encoder`` (loaded
    on a CPU with the same settings) computes with; on GPUs, torch at the GPU's precision
    (None for ``auto``: the GPU decides, :func:`_gpu_precision`)."""
    from vad.runtime import encoder_facts

    if not device.startswith("cuda"):
        return encoder_facts(encoder)
    return {"runtime": "torch", "precision": _resolve_precision(precision, device)}


def _resolve_precision(precision: str, device: str) -> str | None:
    """The actors' precision, where it does not depend on their GPU; None for ``auto`` on a
    GPU (bf16 or fp16, the GPU decides: :func:`_gpu_precision`)."""
    import torch

    from vad.encoder import resolve_precision

    if device == "cuda" and precision == "auto":
        return None
    return resolve_precision(precision, torch.device(device))


def cuda_auto_precision() -> str:
    """What ``--precision auto`` means on this process's GPU (run on one of the actors')."""
    import torch

    from vad.encoder import resolve_precision

    return resolve_precision("auto", torch.device("cuda"))


def _gpu_precision(ray, gpus_per_worker: float) -> str:
    """``--precision auto`` for GPU actors: a one-off task on one of the cluster's GPUs asks
    it (the driver may have no GPU, or another kind). The cluster's GPUs are taken to be
    alike; with mixed generations give ``--precision fp16`` (every GPU has it)."""
    if ray is None or not ray.is_initialized():
        raise RayEngineError("--precision auto on Ray GPUs needs a running Ray to ask them")
    task = ray.remote(num_cpus=0, num_gpus=min(gpus_per_worker, 1.0), max_calls=1,
                      max_retries=TASK_RETRIES)(cuda_auto_precision)  # fmt: skip
    try:
        return ray.get(task.remote())
    except Exception as exc:
        raise RayEngineError(
            f"cannot ask the Ray cluster's GPUs which precision they run: "
            f"{_describe_ray_error(exc)} (or give --precision fp16|bf16|fp32)"
        ) from exc


def _load_here(scorer, device: str, precision: str):
    """The model loaded on the driver (on CPU; or the one ``scorer`` was given): ``(encoder,
    the actors' runtime and precision, the precision None for auto on GPUs)``."""
    own_model = scorer._encoder is None
    encoder = scorer.encoder  # loads the model: WeightsUnavailable is a usage error
    scorer.text_embeddings()  # the prompt bank, encoded once here
    if own_model and getattr(encoder, "model", None) is not None:
        # The driver never encodes an image, and a text only for a free-text context: free
        # what it will not use (the actors hold the model).
        if scorer.context.strip().lower() in ("auto", "none"):
            encoder.model = None
        elif hasattr(encoder.model, "visual"):
            import torch

            encoder.model.visual = torch.nn.Identity()
    # the actors' encoder runs on `device`, where the precision may differ from the driver's
    return encoder, actor_facts(encoder, device, precision)


class ProbedModel:
    """The driver's stand-in for the model, from :func:`probe_model`: what scoring reads of
    an encoder (logit scale, identity, labels) and the texts it will need, as numpy."""

    def __init__(self, facts: dict):
        self._identity = facts["identity"]
        self._texts = facts["texts"]
        self.cacheable = facts["cacheable"]
        self.random_weights = facts["random_weights"]
        self.pretrained_label = facts["pretrained_label"]
        self.logit_scale = facts["logit_scale"]
        self.preprocess_blob = facts["preprocess"]

    def identity(self) -> dict:
        return dict(self._identity)

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """The embeddings of texts the probe encoded (a free-text context's)."""
        missing = [t for t in texts if t not in self._texts]
        if missing:
            raise RuntimeError(f"the Ray engine's driver has no model to encode {missing[0]!r}")
        return np.stack([self._texts[t] for t in texts]).astype(np.float32)


def probe_model(settings: dict, bank, device: str) -> dict:
    """Run by a one-off Ray task whose process then exits: load the model on CPU as the driver
    would, encode the prompt bank ``bank`` (or read it from the text cache) and a free-text
    context, and return what the driver needs as plain data. A problem the user must fix (weights
    missing, a bad precision) comes back as ``{"error": message}``; vad's log lines come back
    as ``{"log": [(level, message), ...]}`` for the driver to print."""
    from vad.pipeline import Detector

    records: list[tuple[int, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append((record.levelno, record.getMessage()))

    vad_log, root = logging.getLogger("vad"), logging.getLogger()
    saved = (vad_log.handlers[:], vad_log.level, vad_log.propagate, root.level)
    vad_log.handlers[:], vad_log.propagate = [Keep()], False
    vad_log.setLevel(logging.INFO)
    root.setLevel(logging.ERROR)  # open_clip's own "no pretrained weights" (vad says it)
    try:
        from vad.errors import WeightsUnavailable

        precision = settings.get("precision") or "auto"
        driver = _driver_settings(settings, device)
        det = Detector(**{**settings, **driver, "prompts": "default"})
        det.bank = bank  # the driver's, read from its own file
        try:
            encoder = det.encoder
            made_by = actor_facts(encoder, device, precision)
        except (WeightsUnavailable, ValueError) as exc:  # the driver is the command line's
            return {"error": getattr(exc, "cli_message", None) or str(exc), "log": records}
        text = det.text_embeddings()
        texts: dict[str, np.ndarray] = {}
        context = det.context.strip()
        if context.lower() not in ("auto", "none") and bank.find_scene(context) is None:
            queries = [t.format(scene=context) for t in bank.scene_templates]
            texts = dict(zip(queries, encoder.encode_text(queries), strict=True))
        return {
            "identity": encoder.identity(),
            "made_by": made_by,
            "cacheable": bool(getattr(encoder, "cacheable", False)),
            "random_weights": bool(getattr(encoder, "random_weights", False)),
            "pretrained_label": getattr(encoder, "pretrained_label", det.pretrained),
            "logit_scale": float(encoder.logit_scale),
            "preprocess": pickle.dumps(encoder.preprocess),
            "text": text,
            "texts": texts,
            "log": records,
        }
    finally:
        vad_log.handlers[:], vad_log.level, vad_log.propagate = saved[:3]
        root.setLevel(saved[3])


def _probed(ray, scorer, device: str, precision: str):
    """:func:`probe_model` in a Ray task of its own (``max_calls=1``: its process, torch and
    the model go when it ends): ``(stand-in encoder, the actors' runtime and precision)``."""
    task = ray.remote(num_cpus=1, max_calls=1, max_retries=TASK_RETRIES)(probe_model)
    settings = {k: getattr(scorer, k) for k in ("model", "pretrained", "context", "head",
                                                "anchor", "refine", "motion_gate",
                                                "use_cache", "runtime")}  # fmt: skip
    settings.update(cache_dir=str(scorer.cache_dir), precision=precision)
    try:
        facts = ray.get(task.remote(settings, scorer.bank, device))
    except Exception as exc:
        raise RayEngineError(
            f"the Ray workers cannot load the model: {_describe_ray_error(exc)}"
        ) from exc
    for level, message in facts["log"]:
        log.log(level, "%s", message)
    if "error" in facts:
        raise RayEngineError(facts["error"])
    model = ProbedModel(facts)
    scorer._encoder = model
    scorer._text[scorer.scoring.repulsive] = facts["text"]  # what text_embeddings() gives
    return model, facts["made_by"]


# -- rows: one schema for every stage ------------------------------------------------------------


def _row(src: dict, **fields) -> dict:
    """A row of the pipeline: ``src``'s video and segment, with ``fields`` replaced."""
    row = {
        "index": int(src["index"]),
        "path": str(src["path"]),
        "segment": int(src.get("segment", 0)),
        "num_segments": int(src.get("num_segments", 1)),
        "start_s": float(src.get("start_s", 0.0)),
        "end_s": float(src.get("end_s", -1.0)),  # -1: to the end of the video
        "error": "",
        "meta": "{}",  # what decoding found, as JSON
        "pixels": np.zeros((0, 3, 1, 1), np.uint8),
        "embeddings": np.zeros((0, 1), np.float32),
        "indices": np.zeros(0, np.int64),
        "times": np.zeros(0, np.float64),
        "seconds": 0.0,
    }
    row.update(fields)
    return row


def _failed(src: dict, exc: Exception, t0: float) -> dict:
    """The row of a segment or video that failed: its one-line error."""
    error = str(exc)
    if not isinstance(exc, VideoError):
        error = f"{src['path']}: decoding failed ({first_line(exc)})"
    return _row(src, error=error, seconds=time.perf_counter() - t0)


# -- stage 1: plan a video (CPU tasks) -----------------------------------------------------------


def cache_identity(plan: _Plan) -> dict | None:
    """What :meth:`Detector.embed` keys the embedding cache with (a test checks both engines
    write the same cache entries)."""
    if plan.identity is None:
        return None
    return embedding_identity(plan.identity, plan.sampler.backend)


def plan_video(row: dict, plan: _Plan) -> dict:
    """One video -> its number of segments (from the header), or its cached embeddings, or its
    error. Never raises for a bad video."""
    from vad.pipeline import lookup_cache
    from vad.video import check_input_file

    t0 = time.perf_counter()
    path = Path(row["path"])
    try:
        check_input_file(path)
        _, key, hit = lookup_cache(
            path, plan.cache_root, cache_identity(plan), plan.sampler.sample_fps
        )
        if hit is not None:
            return _row(
                row, meta=json.dumps(_facts(hit, key=key, from_cache=True)),
                embeddings=hit.embeddings, indices=hit.indices, times=hit.times,
                seconds=time.perf_counter() - t0,
            )  # fmt: skip
        info = plan.sampler.open(path).info  # a file that is not a video fails here
        duration = info.reported_frames / info.fps
        segments = max(1, math.ceil(duration / plan.segment_s - 1e-9))
    except Exception as exc:  # noqa: BLE001 - one bad video must not kill the job
        return _failed(row, exc, t0)
    meta = {"key": key}
    return _row(row, num_segments=segments, meta=json.dumps(meta), seconds=time.perf_counter() - t0)


def _facts(emb: VideoEmbeddings, **extra) -> dict:
    return {
        "num_frames": int(emb.num_frames),
        "fps": float(emb.fps),
        "reported_frames": int(emb.reported_frames),
        "warnings": list(emb.warnings),
        "frame_times": None if emb.frame_times is None else emb.frame_times.tolist(),
        **extra,
    }


def _frame_times(meta: dict) -> np.ndarray | None:
    """A variable frame rate's per-frame timestamps, carried in a row's metadata."""
    times = meta.get("frame_times")
    return None if times is None else np.asarray(times, dtype=np.float64)


def segment_items(row: dict, segment_s: float) -> list[dict]:
    """The segments of a planned video, in order; the last one runs to the end."""
    n = int(row["num_segments"])
    return [
        {"index": int(row["index"]), "path": str(row["path"]), "segment": j, "num_segments": n,
         "start_s": j * segment_s, "end_s": -1.0 if j == n - 1 else (j + 1) * segment_s}
        for j in range(n)
    ]  # fmt: skip


# -- stage 2: decode, sample, resize and crop one segment (CPU tasks) ---------------------------


def _stream(row: dict, plan: _Plan):
    """``(video, batches)`` of one segment, decoded in this process by a thread: a stall is
    reported after ``--decode-timeout`` as by the local engine's decode worker; a native crash
    kills this Ray worker, and Ray's bounded retry then reports the video. (A decode worker
    process of its own would cost ~0.5 GB more for each decoding CPU.)"""
    from vad.worker import DecodeWorker

    sampler = plan.sampler
    if int(row["num_segments"]) > 1:
        end = float(row["end_s"])
        sampler = sampler.window(float(row["start_s"]), None if end < 0 else end)
    worker = DecodeWorker(sampler, plan.preprocess, plan.decode_timeout_s, isolate=False)
    return worker.stream(Path(row["path"]))


def _decode_meta(video, row: dict) -> dict:
    """What decoding found, for the row's ``meta``."""
    return {
        "fps": float(video.fps),
        "reported_frames": int(video.reported_frames),
        "num_decoded": int(video.num_decoded),
        "warnings": list(video.warnings),
        "reached_end": bool(video.reached_end),
        # a variable frame rate's timestamps; per video, so only from a video decoded whole
        "frame_times": None
        if video.frame_times is None or int(row["num_segments"]) > 1
        else video.frame_times.tolist(),
    }


def decode_segment(row: dict, plan: _Plan) -> dict:
    """One segment -> its sampled frames at the model's size (uint8 N,3,h,w) and what decoding
    found. A video of one segment is decoded whole, exactly as the local engine decodes it.
    Never raises for a bad video: the row carries the error message instead."""
    try:
        return _decode_segment(row, plan)
    finally:
        return_free_heap()  # the task's worker process decodes the next segment


def _decode_segment(row: dict, plan: _Plan) -> dict:
    t0 = time.perf_counter()
    try:
        video, batches = _stream(row, plan)
        pixels, indices, times = [], [], []
        for batch in batches:
            pixels.append(np.asarray(batch.pixels, np.uint8))
            indices.append(batch.indices)
            times.append(batch.times)
    except Exception as exc:  # noqa: BLE001 - one bad video must not kill the job
        return _failed(row, exc, t0)
    return _row(
        row, meta=json.dumps(_decode_meta(video, row)), seconds=time.perf_counter() - t0,
        pixels=np.concatenate(pixels) if pixels else _row(row)["pixels"],
        indices=np.concatenate(indices) if indices else np.zeros(0, np.int64),
        times=np.concatenate(times) if times else np.zeros(0, np.float64),
    )  # fmt: skip


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def return_free_heap() -> None:
    """Hand the C heap's free pages back to the system once a segment is done. A Ray worker
    lives for the whole job and decodes each segment in a new thread; glibc gives threads
    heaps of their own (arenas, up to 8 per core), and the free memory a segment's packets and
    frames leave in one is neither reused by the next segment's thread nor returned, so the
    worker kept the largest transient of every arena it used: ~0.45 GB after ten segments
    on 2 cores (docs/ray.md, Memory). Costs 10-60 ms a segment (measured on 2 busy cores),
    against seconds of decoding and encoding."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


# -- stage 3: encode (actor pool; the model is loaded once per actor) ----------------------------


class EncodeActor:
    """Callable class for ``map_batches``: holds one model and turns decoded segments into
    embeddings with the local engine's own encoder calls."""

    def __init__(self, plan: _Plan):
        from vad.pipeline import Detector

        # the actor only encodes images: the shipped default bank stands in for the run's,
        # which a worker node need not have
        settings = {**plan.settings, "prompts": "default", "isolate_decoding": False}
        self.plan = plan
        self.detector = Detector(**settings)
        encoder = self.detector.encoder  # load the model now, once
        self.cacheable = plan.identity is not None and encoder.identity() == plan.identity
        if plan.identity is not None and not self.cacheable:
            log.warning(
                "worker encoder identity %s differs from the driver's %s: not caching",
                encoder.identity(), plan.identity,
            )  # fmt: skip

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A batch of one segment (``batch_size=1``) in, the same with its embeddings out."""
        row = {k: v[0] for k, v in batch.items()}
        try:
            if self.plan.decode_in_actor:
                out = self._decode_and_encode(_row(row))
            else:
                out = self._encode_row(row)
        finally:
            return_free_heap()
        return {
            k: v[None] if isinstance(v, np.ndarray) else np.asarray([v]) for k, v in out.items()
        }

    def _decode_and_encode(self, row: dict) -> dict:
        """A segment decoded by a thread of this actor while it encodes, as in the local engine
        (on CPUs: no decode task, and no process of its own holding frames)."""
        from vad.pipeline import encode_pixels

        t0 = time.perf_counter()
        indices, times = [], []

        def pixels(batches):
            for batch in batches:
                indices.append(batch.indices)
                times.append(batch.times)
                yield np.ascontiguousarray(batch.pixels)

        try:
            video, batches = _stream(row, self.plan)
            embeddings = encode_pixels(self.detector.encoder, pixels(batches))
        except VideoError as exc:
            return _failed(row, exc, t0)
        except EncoderFailure as exc:  # out of memory: the driver stops the run
            return _row(row, error=str(exc), meta=json.dumps({"fatal": True}))
        except Exception as exc:  # noqa: BLE001 - reported for this video, the job goes on
            error = f"{row['path']}: scoring failed ({first_line(exc)})"
            return _row(row, error=error, seconds=time.perf_counter() - t0)
        meta = {**_decode_meta(video, row), "cacheable": self.cacheable}
        if not indices:
            return _row(row, meta=json.dumps(meta), seconds=time.perf_counter() - t0)
        return _row(
            row, meta=json.dumps(meta), embeddings=embeddings,
            indices=np.concatenate(indices).astype(np.int64),
            times=np.concatenate(times).astype(np.float64),
            seconds=time.perf_counter() - t0,
        )  # fmt: skip

    def _encode_row(self, row: dict) -> dict:
        from vad.pipeline import encode_pixels

        if row["error"] or not len(row["indices"]):
            return _row(row, error=str(row["error"]), meta=str(row["meta"]),
                        seconds=float(row["seconds"]))  # fmt: skip
        t0 = time.perf_counter()
        pixels, size = np.asarray(row["pixels"]), self.detector.batch_size
        chunks = (
            np.require(pixels[i : i + size], requirements="CW") for i in range(0, len(pixels), size)
        )
        try:
            embeddings = encode_pixels(self.detector.encoder, chunks)
        except EncoderFailure as exc:  # out of memory: the driver stops the run
            return _row(row, error=str(exc), meta=json.dumps({"fatal": True}))
        except Exception as exc:  # noqa: BLE001 - reported for this video, the job goes on
            error = f"{row['path']}: scoring failed ({first_line(exc)})"
            return _row(row, error=error, seconds=float(row["seconds"]))
        meta = {**json.loads(str(row["meta"])), "cacheable": self.cacheable}
        return _row(
            row, meta=json.dumps(meta), embeddings=embeddings,
            indices=np.asarray(row["indices"], np.int64),
            times=np.asarray(row["times"], np.float64),
            seconds=float(row["seconds"]) + time.perf_counter() - t0,
        )  # fmt: skip


# -- stage 4: stitch a video's segments back together (the driver) -------------------------------


def first_frame_at(time_s: float, fps: float) -> int:
    """The index of the first frame whose time (``index / fps``, as the sampler computes it) is
    at or after ``time_s``."""
    i = max(0, math.ceil(time_s * fps) - 2)
    while i / fps < time_s:
        i += 1
    return i


def stitch(path: Path, segments: list[dict]) -> VideoEmbeddings:
    """The :class:`VideoEmbeddings` of a video from its encoded segments (in order): what the
    local engine's one pass over the whole video finds. Decoding that stops inside a segment
    (the end of the file, or damage) ends the video there, as it ends a single pass."""
    from vad.pipeline import assemble
    from vad.video import finish_checks
    from vad.worker import DecodedVideo

    metas = [json.loads(str(s["meta"])) for s in segments]
    video = DecodedVideo(
        path, fps=metas[0]["fps"], reported_frames=metas[0]["reported_frames"],
        warnings=list(metas[0]["warnings"]), frame_times=_frame_times(metas[0]),
    )  # fmt: skip
    kept = []
    for seg, meta in zip(segments, metas, strict=True):
        kept.append(seg)
        video.num_decoded = max(video.num_decoded, meta["num_decoded"])
        end = float(seg["end_s"])
        # the video ended inside this segment: decoding stopped before the segment's end (its
        # last frame's time, where the decoder says so: a variable frame rate's real times)
        ended = meta.get("reached_end")
        if ended is None:
            ended = meta["num_decoded"] >= first_frame_at(end, video.fps)
        if end >= 0 and not ended:
            break
    if len(segments) > 1:  # a single segment was decoded whole, with these checks
        finish_checks(path, video.num_decoded, video.reported_frames, video.warnings)

    kept = [s for s in kept if len(s["indices"])]
    if not kept:  # assemble says "no frames could be decoded"
        return assemble(path, video, [], [], [])

    def cat(key, dtype):
        return np.concatenate([np.asarray(s[key], dtype) for s in kept])

    return assemble(
        path,
        video,
        cat("embeddings", np.float32),
        cat("indices", np.int64),
        cat("times", np.float64),
    )


# -- running the pipeline -----------------------------------------------------------------------


def connect(address: str | None):
    """Use the current Ray session, else connect to ``address`` (``auto``, ``HOST:PORT``,
    ``ray://HOST:10001``) or start a local Ray. Returns (ray, started_here)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    kwargs: dict = {"logging_level": logging.WARNING, "configure_logging": True}
    if not address or address == "local":  # a Ray of our own: no dashboard (~0.2 GB)
        kwargs["include_dashboard"] = False
    else:
        import vad

        # ship this vad's code so every worker runs the same version as the driver
        kwargs["runtime_env"] = {"py_modules": [str(Path(vad.__file__).resolve().parent)]}
    try:
        ray.init(address=address or None, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "a local Ray"
        raise RayEngineError(f"cannot start or reach {where}: {first_line(exc)}") from exc
    return ray, True


RESOURCE_UNIT = 10_000
"""Ray counts CPUs and GPUs in ten-thousandths (it rounds requests to that): vad does its
resource arithmetic in those whole units, so 0.1 GPU an actor is 10 actors a GPU, not the
9 that floating point's ``1 // 0.1`` gives."""


def _units(amount: float) -> int:
    return round(amount * RESOURCE_UNIT)


def default_gpus_per_worker(resources: dict, device: str) -> float:
    """``--num-gpus-per-worker`` left out: a GPU per actor where the cluster has a GPU, unless
    the device is ``cpu`` (CPU actors hold no GPU)."""
    if parse_device(device).kind == "cpu":
        return 0.0
    return 1.0 if _units(resources.get("GPU", 0)) >= RESOURCE_UNIT else 0.0


def default_workers(ray, gpus_per_worker: float, cpus_per_worker: float) -> int:
    """One actor per ``gpus_per_worker`` GPUs of the cluster; on CPU, half the cores (the
    other half decodes)."""
    resources = ray.cluster_resources()
    if gpus_per_worker > 0:
        return max(1, _units(resources.get("GPU", 0)) // _units(gpus_per_worker))
    per_actor = max(2 * _units(cpus_per_worker), 1)
    return max(1, _units(resources.get("CPU", 1)) // per_actor)


def iter_ray(
    paths: Sequence[str | Path],
    settings: dict,
    *,
    address: str | None = None,
    workers: int | None = None,
    gpus_per_worker: float | None = None,
    cpus_per_worker: float = 1.0,
    segment_s: float = SEGMENT_S,
    return_embeddings: bool = False,
    ray_progress: bool = False,
    encoder=None,
    decode_in_actor: bool | None = None,
) -> Iterator[VideoOutcome]:
    """Score ``paths`` on Ray; yield one :class:`VideoOutcome` per path as results arrive
    (completion order). Embedding-cache entries are written here, on the driver, as the local
    engine writes them. ``settings`` are :class:`~vad.pipeline.Detector` keyword arguments.

    Raises :class:`RayEngineError` when Ray is missing or unreachable, or the workers cannot run
    at all (e.g. cannot load the model); per-video problems are outcomes with an ``error``.
    ``encoder``: a model already loaded on the driver, to validate the settings and score
    with, instead of loading another copy. ``decode_in_actor``: see :func:`make_plan`.
    """
    paths = [Path(p) for p in paths]
    if workers is not None and workers < 1:
        raise RayEngineError(f"--workers must be >= 1, got {workers}")
    if gpus_per_worker is not None and gpus_per_worker < 0:
        raise RayEngineError(f"--num-gpus-per-worker must be >= 0, got {gpus_per_worker}")
    if gpus_per_worker and not _units(gpus_per_worker):
        raise RayEngineError(
            f"--num-gpus-per-worker must be 0 or at least {1 / RESOURCE_UNIT:g} (Ray's unit), "
            f"got {gpus_per_worker:g}"
        )
    device = settings.get("device") or "auto"
    _without_gpu_number(device)
    if gpus_per_worker is not None:  # else once the cluster's GPUs are known
        actors_device(device, gpus_per_worker)
    if not segment_s > 0:
        raise RayEngineError(f"--segment-s must be a positive number of seconds, got {segment_s}")
    if not paths:
        return
    ray, started = connect(address)
    try:
        if gpus_per_worker is None:
            gpus_per_worker = default_gpus_per_worker(ray.cluster_resources(), device)
        plan, scorer = make_plan(settings, gpus_per_worker, segment_s, encoder, decode_in_actor)
        if workers is None:
            workers = default_workers(ray, gpus_per_worker, cpus_per_worker)
        cpus_per_worker = _fit(ray, workers, gpus_per_worker, cpus_per_worker)
        with _data_context(ray_progress):
            run = _Run(ray, paths, plan, scorer, return_embeddings)
            yield from run.cached_and_failed()
            yield from run.segments(workers, gpus_per_worker, cpus_per_worker)
    finally:
        if started:
            ray.shutdown()


def _fit(ray, workers: int, gpus: float, cpus: float) -> float:
    """CPUs to reserve per actor: ``cpus``, or less where the actors would otherwise take every
    CPU of the cluster and no decode task could ever start (the job would wait forever)."""
    res = ray.cluster_resources()
    if gpus > 0 and workers * _units(gpus) > _units(res.get("GPU", 0)):
        log.warning(
            "%d workers x %g GPUs need %g GPUs but the Ray cluster has %g now: "
            "workers wait until GPUs join",
            workers, gpus, workers * gpus, res.get("GPU", 0),
        )  # fmt: skip
    total = res.get("CPU", 0)
    if total >= 1 and workers * _units(cpus) > _units(total) - RESOURCE_UNIT:
        fitted = (total - 1) / workers
        log.info("%d workers on %g CPUs: %.2g CPUs each, one left for decoding", workers, total,
                 fitted)  # fmt: skip
        return fitted
    return cpus


@contextlib.contextmanager
def _data_context(ray_progress: bool):
    """Ray Data set up for this job (restored afterwards): a video whose worker keeps dying is
    dropped, not fatal; Ray's progress bars and logs only with ``ray_progress``."""
    from ray.data import DataContext

    with warnings.catch_warnings():  # Ray's own deprecated fields, set by its constructor
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = DataContext.get_current()
    wanted = {
        "max_errored_blocks": -1,
        "enable_progress_bars": ray_progress,
        "print_on_execution_start": ray_progress,
        "enable_auto_log_stats": False,
    }
    saved = {k: getattr(ctx, k) for k in wanted}
    quiet = {"ray.data": logging.WARNING, "ray.data._internal.progress": logging.ERROR}
    saved_levels = {name: logging.getLogger(name).level for name in quiet}
    for k, v in wanted.items():
        setattr(ctx, k, v)
    if not ray_progress:  # our own per-video bar is the progress display
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(ctx, k, v)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


class _Run:
    """The driver's side of one job: two Ray Data passes (plan; decode + encode) whose rows it
    turns into outcomes, scoring each video once all its segments are in."""

    def __init__(self, ray, paths: list[Path], plan: _Plan, scorer, return_embeddings: bool):
        from vad.cache import EmbeddingCache

        self.ray, self.paths, self.plan, self.scorer = ray, paths, plan, scorer
        self.return_embeddings = return_embeddings
        self.cache = EmbeddingCache(plan.cache_root) if plan.identity is not None else None
        self.planned: dict[int, dict] = {}  # videos to decode: their plan row

    def cached_and_failed(self) -> Iterator[VideoOutcome]:
        """Pass 1: plan every video; outcomes for the cached and the failed ones."""
        items = [{"index": i, "path": str(p)} for i, p in enumerate(self.paths)]
        seen: set[int] = set()

        def build(ds):
            retry = _retry_args(ds.map, "task")
            return ds.map(plan_video, fn_kwargs={"plan": self.plan}, num_cpus=1, **retry)

        for row in self._rows(items, build):
            index = int(row["index"])
            seen.add(index)
            meta = json.loads(str(row["meta"]))
            if row["error"]:
                yield self._failed(index, str(row["error"]), float(row["seconds"]))
            elif meta.get("from_cache"):
                emb = VideoEmbeddings(
                    embeddings=np.asarray(row["embeddings"], np.float32),
                    indices=np.asarray(row["indices"], np.int64),
                    times=np.asarray(row["times"], np.float64),
                    num_frames=meta["num_frames"], fps=meta["fps"],
                    reported_frames=meta["reported_frames"], warnings=meta["warnings"],
                    from_cache=True, frame_times=_frame_times(meta),
                )  # fmt: skip
                yield self._score(index, emb, float(row["seconds"]))
            else:
                self.planned[index] = {"key": meta.get("key"), "seconds": float(row["seconds"]),
                                       "num_segments": int(row["num_segments"])}  # fmt: skip
        yield from self._died(set(range(len(self.paths))) - seen)

    def segments(self, workers: int, gpus: float, cpus: float) -> Iterator[VideoOutcome]:
        """Pass 2: decode and encode every segment of the planned videos; an outcome for each
        video once all its segments are in (or one of them failed)."""
        from ray.data import ActorPoolStrategy

        items = [
            seg
            for index, p in sorted(self.planned.items())
            for seg in segment_items({"index": index, "path": str(self.paths[index]), **p},
                                     self.plan.segment_s)
        ]  # fmt: skip

        def build(ds):
            if not self.plan.decode_in_actor:
                ds = ds.map(
                    decode_segment, fn_kwargs={"plan": self.plan}, num_cpus=1,
                    **_retry_args(ds.map, "task"),
                )  # fmt: skip
            return ds.map_batches(
                EncodeActor,
                fn_constructor_kwargs={"plan": self.plan},
                batch_size=1,
                batch_format="numpy",
                compute=ActorPoolStrategy(size=workers),
                num_cpus=cpus,
                num_gpus=gpus,
                **_retry_args(ds.map_batches, "actor"),
            )

        parts: dict[int, dict[int, dict]] = {i: {} for i in self.planned}
        for row in self._rows(items, build) if items else ():
            index = int(row["index"])
            if index not in parts:  # the video already failed
                continue
            if row["error"] and json.loads(str(row["meta"])).get("fatal"):
                # the model cannot run as set up (out of memory, non-finite): every later
                # segment would fail too; one line for the run, as the local engine stops
                raise EncoderFailure(f"a Ray actor: {row['error']}")
            if row["error"]:
                del parts[index]
                yield self._failed(index, str(row["error"]), float(row["seconds"]))
                continue
            parts[index][int(row["segment"])] = row
            if len(parts[index]) == self.planned[index]["num_segments"]:
                got = parts.pop(index)
                yield self._finish(index, [got[j] for j in sorted(got)])
        yield from self._died(set(parts))

    def _finish(self, index: int, segments: list[dict]) -> VideoOutcome:
        path = self.paths[index]
        seconds = self.planned[index]["seconds"] + sum(float(s["seconds"]) for s in segments)
        try:
            emb = stitch(path, segments)
        except Exception as exc:  # noqa: BLE001 - this video's problem (no frames decoded)
            return self._failed(index, str(exc), seconds)
        key = self.planned[index]["key"]
        cacheable = all(json.loads(str(s["meta"])).get("cacheable") for s in segments)
        # the video may have changed while its segments were decoded: cache only if its
        # content still gives the key (re-hashed here; unknowable when the driver cannot read it)
        emb.made_by = {k: self.plan.identity[k] for k in ("runtime", "precision")
                       if self.plan.identity and k in self.plan.identity}  # fmt: skip
        if (
            self.cache is not None
            and key
            and cacheable
            and self.cache.key_matches(
                key, path, cache_identity(self.plan), self.plan.sampler.sample_fps
            )
        ):
            self.cache.put(key, emb)
        return self._score(index, emb, seconds)

    def _score(self, index: int, emb: VideoEmbeddings, seconds: float) -> VideoOutcome:
        path = self.paths[index]
        out = VideoOutcome(index, path, seconds=seconds, from_cache=emb.from_cache)
        t0 = time.perf_counter()
        try:
            out.result = self.scorer.score_embeddings(emb, video=path)
        except Exception as exc:  # noqa: BLE001 - reported for this video, the job goes on
            out.error = f"{path}: scoring failed ({first_line(exc)})"
            return out
        out.score_seconds = time.perf_counter() - t0
        out.seconds += out.score_seconds
        out.embeddings = emb if self.return_embeddings else None
        return out

    def _failed(self, index: int, error: str, seconds: float) -> VideoOutcome:
        return VideoOutcome(index, self.paths[index], error=error, seconds=seconds)

    def _died(self, indices) -> Iterator[VideoOutcome]:
        for i in sorted(indices):
            yield self._failed(
                i, f"{self.paths[i]}: a Ray worker died while processing it "
                f"(tried {TASK_RETRIES + 1} times; see the Ray logs)", 0.0,
            )  # fmt: skip

    def _rows(self, items: list[dict], build) -> Iterator[dict]:
        """The rows of ``build(dataset of items)``, one item per block, as they arrive."""
        ds = self.ray.data.from_items(items, override_num_blocks=len(items))
        with warnings.catch_warnings():
            # Ray >= 2.60 deprecates **ray_remote_args but has no named retry limits yet
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            ds = build(ds)
        try:
            yield from ds.iter_rows()
        except Exception as exc:
            if _actor_init_failure(exc):
                raise RayEngineError(
                    f"the Ray workers cannot load the model: {_actor_init_failure(exc)}"
                ) from exc
            raise RayEngineError(f"the Ray pipeline failed: {_describe_ray_error(exc)}") from exc


def _retry_args(method, kind: str) -> dict:
    """Bounded retries for a worker that dies (Ray Data's defaults retry forever): a decode task
    is retried :data:`TASK_RETRIES` times; a crashed actor is replaced (it reloads the model)
    but the video that crashed it is retried only :data:`TASK_RETRIES` times. Passed only where
    the installed Ray still takes extra remote arguments."""
    params = inspect.signature(method).parameters.values()
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        log.warning("this Ray cannot bound worker-crash retries; see docs/ray.md")
        return {}
    if kind == "task":
        return {"max_retries": TASK_RETRIES}
    return {"max_restarts": -1, "max_task_retries": TASK_RETRIES}


def _actor_init_failure(exc: BaseException) -> str | None:
    """The error an actor's constructor raised (e.g. weights missing on a worker node), as
    ``Type: message``; Ray hands it over as the text of a traceback."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "actor_init_failed", False):
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(getattr(exc, "error_msg", "") or exc))
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            last = lines[-1] if lines else type(exc).__name__
            name, sep, message = last.partition(": ")
            return f"{name.rsplit('.', 1)[-1]}{sep}{message}"[:300]
        exc = exc.__cause__ or exc.__context__
    return None


def _describe_ray_error(exc: BaseException) -> str:
    """The innermost real error inside Ray's wrappers (e.g. the model failing to load)."""
    wrappers = ("SystemException", "UserCodeException", "RayTaskError", "RayActorError")
    best, seen = exc, set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if not any(w in type(e).__name__ for w in wrappers):
            best = e
        todo += [getattr(e, "cause", None), e.__cause__, e.__context__]
    return first_line(best)

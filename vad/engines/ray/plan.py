"""Stage 1, on the driver and in CPU tasks: the run's plan (:class:`_Plan`, plain picklable
data every worker gets), with the model loaded once up front (:mod:`vad.engines.ray.probe`)
so that bad weights are one usage error; then each video's input check, embedding-cache
lookup and number of segments (:func:`plan_video`, :func:`segment_items`)."""

from __future__ import annotations

import json
import math
import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vad.cache import default_cache_dir, embedding_identity
from vad.devices import parse_device
from vad.engines.ray.cluster import SEGMENT_S, RayEngineError
from vad.engines.ray.probe import _driver_settings, _gpu_precision, _load_here, _probed
from vad.engines.ray.rows import _facts, _failed, _row


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


@dataclass
class _Plan:
    """Everything the workers need, resolved once on the driver (plain, picklable data)."""

    settings: dict  # Detector keyword arguments for the actors (prompts: the loaded bank)
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
    videos. With Ray running, the model is loaded by a one-off Ray task
    (:func:`~vad.engines.ray.probe.probe_model`) and the driver scores with its numpy results,
    never importing torch (~0.9 GB less for the run); ``encoder``, an already loaded model, is
    used as it is. ``decode_in_actor``: the actors decode their segments themselves (default:
    on CPU actors, not on GPU ones)."""
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
                  "cache_dir": str(cache_root), "prompts": scorer.bank},  # fmt: skip
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


def cache_identity(plan: _Plan) -> dict | None:
    """What :meth:`Detector.embed` keys the embedding cache with (a test checks both engines
    write the same cache entries)."""
    if plan.identity is None:
        return None
    return embedding_identity(plan.identity, plan.sampler.backend)


def plan_video(row: dict, plan: _Plan) -> dict:
    """One video -> its number of segments (from the header), or its cached embeddings, or its
    error. Never raises for a bad video."""
    from vad.media.files import check_input_file
    from vad.pipeline import lookup_cache

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


def segment_items(row: dict, segment_s: float) -> list[dict]:
    """The segments of a planned video, in order; the last one runs to the end."""
    n = int(row["num_segments"])
    return [
        {"index": int(row["index"]), "path": str(row["path"]), "segment": j, "num_segments": n,
         "start_s": j * segment_s, "end_s": -1.0 if j == n - 1 else (j + 1) * segment_s}
        for j in range(n)
    ]  # fmt: skip

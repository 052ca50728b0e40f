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
   only: the model is loaded once by a one-off Ray task
   (:func:`~vad.engines.ray.probe.probe_model`) that checks the weights and encodes the prompt
   bank, so the driver never imports torch. The results equal
   the local engine's.

Failures never kill the job: a video that cannot be decoded or scored becomes an outcome with
its error message; a task whose worker process dies is retried :data:`TASK_RETRIES` times, then
its video is reported as failed (``DataContext.max_errored_blocks = -1`` keeps the job going).

>>> engine = RayEngine(settings, workers=4)                                   # doctest: +SKIP
>>> for out in engine.run(paths):                                             # doctest: +SKIP
...     print(out.index, out.error or out.result["num_frames"])"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from vad.cache import VideoEmbeddings
from vad.engines.protocol import VideoOutcome
from vad.engines.ray.actor import EncodeActor
from vad.engines.ray.cluster import (
    RESOURCE_UNIT,
    SEGMENT_S,
    TASK_RETRIES,
    RayEngineError,
    _actor_init_failure,
    _data_context,
    _describe_ray_error,
    _fit,
    _retry_args,
    _units,
    connect,
    default_gpus_per_worker,
    default_workers,
)
from vad.engines.ray.decode import decode_segment
from vad.engines.ray.plan import (
    _Plan,
    _without_gpu_number,
    actors_device,
    cache_identity,
    make_plan,
    plan_video,
    segment_items,
)
from vad.engines.ray.rows import _frame_times
from vad.engines.ray.stitch import stitch
from vad.errors import EncoderFailure, first_line


class RayEngine:
    """The :class:`~vad.engines.protocol.Engine` on Ray: :func:`iter_ray` with fixed cluster
    options. ``settings`` are :class:`~vad.pipeline.Detector` keyword arguments."""

    def __init__(self, settings: dict, **options):
        self.settings = settings
        self.options = options  # iter_ray's keyword arguments

    def run(
        self, paths: Sequence[str | Path], *, keep_embeddings: bool = False
    ) -> Iterator[VideoOutcome]:
        return iter_ray(paths, self.settings, return_embeddings=keep_embeddings, **self.options)

    def close(self) -> None:
        """Nothing to stop: :func:`iter_ray` shuts down a Ray it started when it ends."""


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
    with, instead of loading another copy. ``decode_in_actor``: see
    :func:`~vad.engines.ray.plan.make_plan`.
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
            # An actor that decodes runs the decoder in its own process: a file that kills it
            # must not take down the segments queued behind it on the same actor (they would
            # fail with it). Its segments are descriptors, so queueing ahead gained nothing.
            in_flight = 1 if self.plan.decode_in_actor else None
            return ds.map_batches(
                EncodeActor,
                fn_constructor_kwargs={"plan": self.plan},
                batch_size=1,
                batch_format="numpy",
                compute=ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=in_flight),
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

"""Ray engine: score many videos across CPU cores, GPUs and machines with Ray Data.

The pipeline over the list of video paths, one video per block:

1. **decode** (CPU tasks, ``Dataset.map``): the local engine's decode worker (stall timeout,
   crash isolation) samples frames and resizes/crops them to the model's input size (uint8,
   ~150 KB a frame at 224 px whatever the video's resolution); a video whose embeddings are in
   the cache skips decoding and ships them instead.
2. **encode + score** (``Dataset.map_batches`` on an actor pool,
   ``compute=ActorPoolStrategy(size=workers)``, ``num_gpus=gpus_per_worker``): every actor loads
   the model once into a :class:`~vad.pipeline.Detector` and runs the same encoder calls and
   :meth:`~vad.pipeline.Detector.score_embeddings` as the local engine: identical results.
3. **write** (the driver): the same atomic ``<stem>.json`` / ``<stem>.csv`` outputs and the same
   embedding-cache entries as the local engine, as results stream in.

Failures never kill the job: a video that cannot be decoded or scored becomes a row carrying
its error message; a task whose worker process dies is retried :data:`TASK_RETRIES` times, then
its video is reported as failed (``DataContext.max_errored_blocks = -1`` keeps the job going).

>>> engine = RayEngine(settings, workers=4)                                   # doctest: +SKIP
>>> for out in engine.run(paths):                                             # doctest: +SKIP
...     print(out.index, out.error or out.result["num_frames"])
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vad.cache import EmbeddingCache, VideoEmbeddings, default_cache_dir
from vad.engine import VideoOutcome
from vad.errors import UsageError
from vad.naming import first_line

log = logging.getLogger(__name__)

MIN_RAY_VERSION = "2.60"
INSTALL_HINT = (
    '--engine ray needs Ray Data: pip install "vad[ray]" (or pip install "ray[data]>=2.60"), '
    "or use the default --engine local"
)
TASK_RETRIES = 1
"""Retries of a decode task or actor call whose worker process died (segfault, killed);
application errors (a broken file) are never retried - they are reported at once."""


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


# -- driver-side plan ----------------------------------------------------------------------------


@dataclass
class _Plan:
    """Everything the workers need, resolved once on the driver (plain, picklable data)."""

    settings: dict  # Detector keyword arguments for the actors
    identity: dict | None  # the actors' encoder identity (cache keys); None = no caching
    cache_root: str
    preprocess: object  # the encoder's Preprocess: resize/crop in the CPU tasks
    bank_file: tuple[str, str]  # (file name, YAML text): workers need not see the driver's files
    sampler: object = None  # FrameSampler
    decode_timeout_s: float = 60.0
    isolate_decoding: bool = True


def make_plan(settings: dict, gpus_per_worker: float, encoder=None) -> _Plan:
    """Validate the settings and load the model once on the driver (on CPU, unless ``encoder``
    is an already loaded one), as the local engine does, so bad weights or a bad prompt bank are
    one usage error instead of N failures."""
    import torch

    from vad.encoder import resolve_precision
    from vad.pipeline import Detector
    from vad.prompts import resolve_bank_path

    device = settings.get("device") or "auto"
    if device == "auto":
        device = "cuda" if gpus_per_worker > 0 else "cpu"
    if device.startswith("cuda") and gpus_per_worker <= 0:
        raise RayEngineError(
            "--device cuda with --engine ray needs GPUs for the workers: "
            "give --num-gpus-per-worker (e.g. 1)"
        )
    cache_root = Path(settings.get("cache_dir") or default_cache_dir()).expanduser().resolve()
    detector = Detector(
        **{**settings, "device": "cpu", "precision": "fp32", "cache_dir": cache_root},
        encoder=encoder,
    )
    encoder = detector.encoder  # loads the model: WeightsUnavailable is a usage error
    # the actors' encoder runs on `device`, where the precision may differ from the driver's
    precision = resolve_precision(settings.get("precision") or "auto", torch.device(device))
    identity = None
    if detector.use_cache and getattr(encoder, "cacheable", False):
        identity = {**encoder.identity(), "precision": precision}
    bank_path = resolve_bank_path(settings.get("prompts") or "default")
    try:
        bank_text = bank_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RayEngineError(f"{bank_path}: cannot read prompt bank ({exc.strerror})") from exc
    detector.close()
    return _Plan(
        settings={**settings, "device": device, "cache_dir": str(cache_root)},
        identity=identity,
        cache_root=str(cache_root),
        preprocess=encoder.preprocess,
        bank_file=(bank_path.name, bank_text),
        sampler=detector.sampler,
        decode_timeout_s=detector.decode_timeout_s,
        isolate_decoding=detector.isolate_decoding,
    )


# -- stage 1: decode, sample, resize and crop (CPU tasks) -----------------------------------------

_DECODERS: dict = {}
"""One decode worker per Ray worker process and plan, reused from task to task."""


def _decoder(plan: _Plan):
    from vad.worker import DecodeWorker

    key = (id(type(plan.sampler)), repr(vars(plan.sampler)), plan.preprocess,
           plan.decode_timeout_s, plan.isolate_decoding)  # fmt: skip
    if key not in _DECODERS:
        for old in _DECODERS.values():
            old.close()
        _DECODERS.clear()
        _DECODERS[key] = DecodeWorker(
            plan.sampler, plan.preprocess, plan.decode_timeout_s, isolate=plan.isolate_decoding
        )
    return _DECODERS[key]


def _error_row(row: dict, error: str, seconds: float = 0.0) -> dict:
    return {
        "index": int(row["index"]),
        "path": str(row["path"]),
        "error": error,
        "meta": "{}",
        "pixels": np.zeros((0, 3, 1, 1), np.uint8),
        "embeddings": np.zeros((0, 1), np.float32),
        "indices": np.zeros(0, np.int64),
        "times": np.zeros(0, np.float64),
        "seconds": float(seconds),
    }


def decode_video(row: dict, plan: _Plan) -> dict:
    """One video -> its sampled frames at the model's size (uint8 N,3,h,w), or its cached
    embeddings, and metadata: :meth:`Detector.embed` up to the encoder, with the same decode
    worker (stall timeout, crash isolation) and the same cache lookup. Never raises for a bad
    video: the row carries the error message instead."""
    from vad.video import VideoError, check_input_file

    t0 = time.perf_counter()
    path = Path(row["path"])
    try:
        check_input_file(path)
        key = hit = None
        if plan.identity is not None and path.is_file():
            cache = EmbeddingCache(plan.cache_root)
            key = cache.key(path, cache_identity(plan), plan.sampler.sample_fps)
            hit = cache.get(key)
        if hit is not None:
            emb, pixels = hit, np.zeros((0, 3, 1, 1), np.uint8)
        else:
            video, batches = _decoder(plan).stream(path)
            chunks, indices, times = [], [], []
            for batch in batches:
                chunks.append(np.asarray(batch.pixels, np.uint8))
                indices.append(batch.indices)
                times.append(batch.times)
            if not chunks:  # frames were counted but none of the sampled ones decoded
                raise VideoError(f"{path}: no frames could be decoded")
            pixels = np.concatenate(chunks)
            emb = VideoEmbeddings(
                embeddings=np.zeros((0, 1), np.float32),
                indices=np.concatenate(indices),
                times=np.concatenate(times),
                num_frames=video.num_decoded,
                fps=video.fps,
                reported_frames=video.reported_frames,
                warnings=list(video.warnings),
            )
    except VideoError as exc:
        return _error_row(row, str(exc), time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - one bad video must not kill the job
        return _error_row(
            row, f"{path}: decoding failed ({first_line(exc)})", time.perf_counter() - t0
        )
    meta = {
        "num_frames": int(emb.num_frames),
        "fps": float(emb.fps),
        "reported_frames": int(emb.reported_frames),
        "warnings": list(emb.warnings),
        "key": key,
        "from_cache": hit is not None,
    }
    return {
        "index": int(row["index"]),
        "path": str(row["path"]),
        "error": "",
        "meta": json.dumps(meta),
        "pixels": pixels,
        "embeddings": np.asarray(emb.embeddings, np.float32),
        "indices": np.asarray(emb.indices, np.int64),
        "times": np.asarray(emb.times, np.float64),
        "seconds": time.perf_counter() - t0,
    }


def cache_identity(plan: _Plan) -> dict:
    """What :meth:`Detector.embed` keys the embedding cache with: the encoder's identity and
    the decoder backend (a test checks both engines write the same cache entries)."""
    from vad.cache import embedding_identity

    return embedding_identity(plan.identity, plan.sampler.backend)


# -- stage 2: encode and score (actor pool; the model is loaded once per actor) ------------------


class ScoreActor:
    """Callable class for ``map_batches``: holds one :class:`Detector` (model loaded once) and
    turns decoded rows into scored rows with the local engine's own code."""

    def __init__(self, plan: _Plan):
        from vad.pipeline import Detector

        self._tmp = tempfile.TemporaryDirectory(prefix="vad-ray-")
        name, text = plan.bank_file
        bank_path = Path(self._tmp.name) / name
        bank_path.write_text(text, encoding="utf-8")
        self.plan = plan
        self.detector = Detector(**{**plan.settings, "prompts": str(bank_path)})
        encoder = self.detector.encoder  # load the model now, once
        if plan.identity is not None and encoder.identity() != plan.identity:
            log.warning(
                "worker encoder identity %s differs from the driver's %s: not caching",
                encoder.identity(),
                plan.identity,
            )
            self.plan.identity = None
        with _file_lock(Path(self.detector.cache_dir) / "text" / ".ray-build.lock"):
            self.detector.text_embeddings()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [self._score_row(_batch_row(batch, i)) for i in range(len(batch["index"]))]
        return {k: _column([r[k] for r in rows]) for k in rows[0]}

    def _score_row(self, row: dict) -> dict:
        t0 = time.perf_counter()
        out = {
            "index": int(row["index"]),
            "path": str(row["path"]),
            "error": str(row["error"]),
            "result": "",
            "meta": str(row["meta"]),
            "embeddings": np.zeros((0, 1), np.float32),
            "indices": np.asarray(row["indices"], np.int64),
            "times": np.asarray(row["times"], np.float64),
            "seconds": float(row["seconds"]),
            "score_seconds": 0.0,
        }
        if out["error"]:
            return out
        try:
            meta = json.loads(out["meta"])
            if meta["from_cache"]:
                embeddings = np.asarray(row["embeddings"], np.float32)
            else:
                embeddings = self._encode(np.asarray(row["pixels"]))
            emb = VideoEmbeddings(
                embeddings=embeddings,
                indices=out["indices"],
                times=out["times"],
                num_frames=meta["num_frames"],
                fps=meta["fps"],
                reported_frames=meta["reported_frames"],
                warnings=list(meta["warnings"]),
                from_cache=meta["from_cache"],
            )
            t1 = time.perf_counter()
            result = self.detector.score_embeddings(emb, video=out["path"])
            out["score_seconds"] = time.perf_counter() - t1
        except Exception as exc:  # noqa: BLE001 - reported for this video, the job goes on
            out["error"] = f"{out['path']}: scoring failed ({first_line(exc)})"
            return out
        out["result"] = json.dumps(result)
        out["embeddings"] = embeddings
        out["seconds"] += time.perf_counter() - t0
        return out

    def _encode(self, pixels: np.ndarray) -> np.ndarray:
        """The local engine's encoder calls, batch for batch (same batch boundaries)."""
        import torch

        encoder = self.detector.encoder
        size = self.detector.batch_size
        chunks = []
        for start in range(0, len(pixels), size):
            chunk = torch.from_numpy(np.require(pixels[start : start + size], requirements="CW"))
            chunks.append(encoder.encode_images(encoder.preprocess.normalize(chunk)))
        return np.concatenate(chunks).astype(np.float32)


def _batch_row(batch: dict[str, np.ndarray], i: int) -> dict:
    return {k: v[i] for k, v in batch.items()}


def _column(values: list) -> np.ndarray:
    if isinstance(values[0], np.ndarray):
        if len(values) == 1:
            return values[0][None]
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    return np.asarray(values)


class _file_lock:  # noqa: N801 - used like a function
    """Exclusive advisory lock (POSIX) so actors on one node build the text cache once."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def __enter__(self):
        try:
            import fcntl

            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except (ImportError, OSError):
            self.fd = None
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock


class RayEngine:
    """The :class:`~vad.engine.Engine` on Ray: :func:`iter_ray` with fixed cluster options.
    ``settings`` are :class:`~vad.pipeline.Detector` keyword arguments."""

    def __init__(
        self,
        settings: dict,
        *,
        address: str | None = None,
        workers: int | None = None,
        gpus_per_worker: float | None = None,
        cpus_per_worker: float = 1.0,
        ray_progress: bool = False,
        encoder=None,
    ):
        self.settings = settings
        self.options = {
            "address": address,
            "workers": workers,
            "gpus_per_worker": gpus_per_worker,
            "cpus_per_worker": cpus_per_worker,
            "ray_progress": ray_progress,
            "encoder": encoder,
        }

    def run(
        self, paths: Sequence[str | Path], *, keep_embeddings: bool = False
    ) -> Iterator[VideoOutcome]:
        return iter_ray(paths, self.settings, return_embeddings=keep_embeddings, **self.options)

    def close(self) -> None:
        """Nothing to stop: :func:`iter_ray` shuts down a Ray it started when it ends."""


# -- running the pipeline -----------------------------------------------------------------------


def connect(address: str | None):
    """Use the current Ray session, else connect to ``address`` (``auto``, ``HOST:PORT``,
    ``ray://HOST:10001``) or start a local Ray. Returns (ray, started_here)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    kwargs: dict = {"logging_level": logging.WARNING, "configure_logging": True}
    if address and address != "local":
        import vad

        # ship this vad's code so every worker runs the same version as the driver
        kwargs["runtime_env"] = {"py_modules": [str(Path(vad.__file__).resolve().parent)]}
    try:
        ray.init(address=address or None, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "a local Ray"
        raise RayEngineError(f"cannot start or reach {where}: {first_line(exc)}") from exc
    return ray, True


def default_workers(ray, gpus_per_worker: float, cpus_per_worker: float) -> int:
    """One actor per ``gpus_per_worker`` GPUs of the cluster; on CPU, half the cores (the
    other half decodes)."""
    resources = ray.cluster_resources()
    if gpus_per_worker > 0:
        return max(1, int(resources.get("GPU", 0) // gpus_per_worker))
    return max(1, int(resources.get("CPU", 1) // (2 * max(cpus_per_worker, 1e-9))))


def iter_ray(
    paths: Sequence[str | Path],
    settings: dict,
    *,
    address: str | None = None,
    workers: int | None = None,
    gpus_per_worker: float | None = None,
    cpus_per_worker: float = 1.0,
    return_embeddings: bool = False,
    ray_progress: bool = False,
    encoder=None,
) -> Iterator[VideoOutcome]:
    """Score ``paths`` on Ray; yield one :class:`VideoOutcome` per path as results arrive
    (completion order). Embedding-cache entries are written here, on the driver, as the local
    engine writes them. ``settings`` are :class:`~vad.pipeline.Detector` keyword arguments.

    Raises :class:`RayEngineError` when Ray is missing or unreachable, or the workers cannot run
    at all (e.g. cannot load the model); per-video problems are outcomes with an ``error``.
    ``encoder``: a model already loaded on the driver, to validate the settings without
    loading another copy.
    """
    paths = [Path(p) for p in paths]
    if workers is not None and workers < 1:
        raise RayEngineError(f"--workers must be >= 1, got {workers}")
    if gpus_per_worker is not None and gpus_per_worker < 0:
        raise RayEngineError(f"--num-gpus-per-worker must be >= 0, got {gpus_per_worker}")
    if not paths:
        return
    ray, started = connect(address)
    try:
        if gpus_per_worker is None:  # auto: a GPU per worker where the cluster has GPUs
            gpus_per_worker = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
        plan = make_plan(settings, gpus_per_worker, encoder)
        if workers is None:
            workers = default_workers(ray, gpus_per_worker, cpus_per_worker)
        _warn_if_too_big(ray, workers, gpus_per_worker, cpus_per_worker)
        yield from _run(
            ray, paths, plan, workers, gpus_per_worker, cpus_per_worker, return_embeddings,
            ray_progress,
        )  # fmt: skip
    finally:
        if started:
            ray.shutdown()


def _warn_if_too_big(ray, workers: int, gpus: float, cpus: float) -> None:
    res = ray.cluster_resources()
    if gpus > 0 and workers * gpus > res.get("GPU", 0):
        log.warning(
            "%d workers x %g GPUs need %g GPUs but the Ray cluster has %g now: "
            "workers wait until GPUs join",
            workers, gpus, workers * gpus, res.get("GPU", 0),
        )  # fmt: skip
    if workers * cpus >= res.get("CPU", 0) and res.get("CPU", 0) > 0:
        log.warning(
            "%d workers x %g CPUs take all %g CPUs of the cluster: decoding may starve",
            workers, cpus, res.get("CPU", 0),
        )  # fmt: skip


def _run(ray, paths, plan, workers, gpus, cpus, return_embeddings, ray_progress):
    from ray.data import ActorPoolStrategy, DataContext

    with warnings.catch_warnings():  # Ray's own deprecated fields, set by its constructor
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = DataContext.get_current()
    saved = {
        "max_errored_blocks": ctx.max_errored_blocks,
        "enable_progress_bars": ctx.enable_progress_bars,
        "print_on_execution_start": ctx.print_on_execution_start,
        "enable_auto_log_stats": ctx.enable_auto_log_stats,
    }
    ctx.max_errored_blocks = -1  # a video whose worker keeps dying is dropped, not fatal
    ctx.enable_progress_bars = ray_progress
    ctx.print_on_execution_start = ray_progress
    ctx.enable_auto_log_stats = False
    quiet = {"ray.data": logging.WARNING, "ray.data._internal.progress": logging.ERROR}
    saved_levels = {name: logging.getLogger(name).level for name in quiet}
    if not ray_progress:  # our own per-video bar is the progress display
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
    items = [{"index": i, "path": str(p)} for i, p in enumerate(paths)]
    ds = ray.data.from_items(items, override_num_blocks=len(items))  # one video per block
    with warnings.catch_warnings():
        # Ray >= 2.60 deprecates **ray_remote_args but has no named retry limits yet
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        ds = ds.map(
            decode_video, fn_kwargs={"plan": plan}, num_cpus=1, **_retry_args(ds.map, "task")
        )
        ds = ds.map_batches(
            ScoreActor,
            fn_constructor_kwargs={"plan": plan},
            batch_size=1,
            batch_format="numpy",
            compute=ActorPoolStrategy(size=workers),
            num_cpus=cpus,
            num_gpus=gpus,
            **_retry_args(ds.map_batches, "actor"),
        )
    cache = EmbeddingCache(plan.cache_root) if plan.identity is not None else None
    seen: set[int] = set()
    try:
        for row in ds.iter_rows():
            index = int(row["index"])
            seen.add(index)
            yield _outcome(row, paths[index], cache, return_embeddings)
    except Exception as exc:
        if _actor_init_failure(exc):
            raise RayEngineError(
                f"the Ray workers cannot load the model: {_actor_init_failure(exc)}"
            ) from exc
        raise RayEngineError(f"the Ray pipeline failed: {_describe_ray_error(exc)}") from exc
    finally:
        for k, v in saved.items():
            setattr(ctx, k, v)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
    for i, p in enumerate(paths):
        if i not in seen:
            yield VideoOutcome(
                i, p, error=f"{p}: a Ray worker died while processing it "
                f"(tried {TASK_RETRIES + 1} times; see the Ray logs)",
            )  # fmt: skip


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


def _outcome(row: dict, path: Path, cache, return_embeddings: bool) -> VideoOutcome:
    index = int(row["index"])
    seconds = float(row["seconds"])
    if row["error"]:
        return VideoOutcome(index, path, error=str(row["error"]), seconds=seconds)
    score_seconds = float(row["score_seconds"])
    result = json.loads(row["result"])
    meta = json.loads(row["meta"])
    emb = None
    if return_embeddings or (cache is not None and meta.get("key") and not meta["from_cache"]):
        emb = VideoEmbeddings(
            embeddings=np.asarray(row["embeddings"], np.float32),
            indices=np.asarray(row["indices"], np.int64),
            times=np.asarray(row["times"], np.float64),
            num_frames=meta["num_frames"],
            fps=meta["fps"],
            reported_frames=meta["reported_frames"],
            warnings=list(meta["warnings"]),
            from_cache=meta["from_cache"],
        )
        if cache is not None and meta.get("key") and not meta["from_cache"]:
            cache.put(meta["key"], emb)
    return VideoOutcome(
        index,
        path,
        result=result,
        embeddings=emb if return_embeddings else None,
        seconds=seconds,
        score_seconds=score_seconds,
        from_cache=bool(meta["from_cache"]),
    )

"""Ray itself, kept apart from vad's stages: importing it (:func:`import_ray`, with the
install hint), joining or starting a cluster (:func:`connect`, which ships this ``vad`` to
the workers with ``runtime_env``), sizing the actor pool from the cluster's resources
(:func:`default_workers`, :func:`default_gpus_per_worker`, :func:`_fit`), bounded retries
(:func:`_retry_args`) and turning Ray's wrapped exceptions back into one-line messages."""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
import warnings
from pathlib import Path

from vad.devices import parse_device
from vad.errors import UsageError, first_line

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

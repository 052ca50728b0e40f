"""Which runtime runs the model, at which precision: ``torch`` (any device) or ``openvino`` (the
CPU; :mod:`vad.model.openvino`), and :func:`build_encoder`, the one place an encoder is made.

``auto`` is OpenVINO on a CPU (where the package is installed) and torch on a CUDA GPU. Precision
``auto`` is, with OpenVINO, bf16 where the CPU computes bf16 natively (OpenVINO's own report of
the CPU's capabilities) and fp32 elsewhere; with torch, fp16 on a GPU and fp32 on a CPU. ``int8``
(OpenVINO only) is never chosen by ``auto``: it has not been measured on real weights yet.

Nothing here imports torch, open_clip or openvino until an encoder is built, and on a CPU machine
(no GPU device node) not even then, unless the torch runtime is chosen or an export must be made:
a warm run starts in about a second.

>>> resolve_runtime("torch", "cpu")
'torch'
>>> check_choice("runtime", "tensorrt", RUNTIMES)
Traceback (most recent call last):
...
ValueError: unknown runtime 'tensorrt'; choose from auto, torch, openvino
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Literal

from vad.errors import UnknownModel, WeightsUnavailable

log = logging.getLogger(__name__)

Runtime = Literal["auto", "torch", "openvino"]
Precision = Literal["auto", "fp32", "bf16", "fp16", "int8"]
RUNTIMES: tuple[str, ...] = ("auto", "torch", "openvino")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16", "int8")
GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose from {', '.join(allowed)}")
    return value


def gpu_present() -> bool:
    """Whether this machine may have a GPU torch can use: a GPU device node exists. Checked
    without importing torch, so a CPU machine never pays for it."""
    return any(Path(p).exists() for p in GPU_DEVICE_NODES)


def cpu_only(device: str) -> bool:
    """Whether ``device`` means the CPU here: ``cpu``, or ``auto`` on a machine without a usable
    GPU (torch is asked only where a GPU device node exists)."""
    if device == "cpu":
        return True
    if device != "auto":
        return False
    if not gpu_present():
        return True
    import torch

    return not torch.cuda.is_available()


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def resolve_runtime(runtime: str, device: str) -> str:
    """``torch`` or ``openvino`` for ``runtime`` on ``device``; ``ValueError`` (a usage error)
    when OpenVINO is asked for where it cannot run."""
    check_choice("runtime", runtime, RUNTIMES)
    if runtime == "torch":
        return "torch"
    on_cpu = cpu_only(device)
    if runtime == "auto":
        return "openvino" if on_cpu and openvino_installed() else "torch"
    if not on_cpu:
        raise ValueError(
            f"--runtime openvino runs on the CPU, not on --device {device}; "
            "use --device cpu or --runtime torch"
        )
    if not openvino_installed():
        raise ValueError("--runtime openvino needs the openvino package: pip install openvino")
    return "openvino"


def openvino_precision(precision: str, capabilities: list[str]) -> str:
    """The precision OpenVINO will compute at on this CPU: ``auto`` is bf16 where the CPU does
    bf16 natively, else fp32; bf16 and fp16 asked for on a CPU without them are fp32 (OpenVINO
    would silently compute in fp32 anyway), with a warning.

    >>> openvino_precision("auto", ["FP32", "BF16", "INT8"]), openvino_precision("auto", ["FP32"])
    ('bf16', 'fp32')
    """
    check_choice("precision", precision, PRECISIONS)
    if precision == "auto":
        return "bf16" if "BF16" in capabilities else "fp32"
    if precision in ("bf16", "fp16") and precision.upper() not in capabilities:
        log.warning(
            "this CPU does not compute %s natively (OpenVINO reports %s): using fp32",
            precision, ", ".join(capabilities),
        )  # fmt: skip
        return "fp32"
    return precision


def encoder_facts(encoder) -> dict:
    """``{"runtime", "precision"}`` that made an encoder's embeddings, for results and caches."""
    identity = encoder.identity() if hasattr(encoder, "identity") else {}
    return {
        "runtime": identity.get("runtime", getattr(encoder, "runtime", "torch")),
        "precision": identity.get("precision", getattr(encoder, "precision", "fp32")),
    }


def build_encoder(
    model: str,
    pretrained: str | None,
    device: str = "auto",
    precision: str = "auto",
    runtime: str = "auto",
    cache_dir: str | Path | None = None,
):
    """The encoder for these settings: an :class:`~vad.model.openvino.OpenVINOEncoder` from the
    export in ``cache_dir`` (made now if missing) or a torch
    :class:`~vad.model.encoder.ClipEncoder`. An OpenVINO export or compile failure falls back to
    torch with one warning line; missing weights and unknown models raise as they would with
    torch."""
    check_choice("precision", precision, PRECISIONS)
    chosen = resolve_runtime(runtime, device)
    if chosen == "openvino":
        from vad.model.openvino import OpenVINOEncoder, cpu_capabilities, export

        capabilities = cpu_capabilities()
        effective = openvino_precision(precision, capabilities)
        if cache_dir is None:
            from vad.cache import default_cache_dir

            cache_dir = default_cache_dir()
        try:
            folder = export(model, pretrained or "none", effective, cache_dir)
            native = "bf16" if "BF16" in capabilities else "fp32"
            compute = native if effective == "int8" else None  # int8 leaves some layers float
            return OpenVINOEncoder(folder, effective, memo_dir=cache_dir, compute=compute)
        except (WeightsUnavailable, UnknownModel):
            raise
        except Exception as exc:  # noqa: BLE001 - any conversion problem: torch still works
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            log.warning("OpenVINO cannot run %s (%s): using torch instead", model, reason)
            device, precision = "cpu", "fp32"
    elif precision == "int8":
        raise ValueError("--precision int8 needs --runtime openvino (NNCF quantisation)")
    from vad.model.encoder import ClipEncoder

    return ClipEncoder(model, pretrained, device, precision, memo_dir=cache_dir)

"""Device strings: ``auto``, ``cpu``, ``cuda`` and ``cuda:N``, parsed once where a run starts
(a flag, a preset, ``Detector(device=...)``), so that ``cuda0`` or ``gpu`` is one usage line
instead of a traceback at the first batch, and checked against the GPUs there are where the
model loads (``cuda:7`` on a machine with one GPU). Imports neither torch nor Ray.

>>> parse_device("cuda:1")
Device(kind='cuda', index=1)
>>> str(parse_device("cpu"))
'cpu'
>>> parse_device("cuda0")
Traceback (most recent call last):
...
vad.devices.DeviceError: unknown device 'cuda0': use auto, cpu, cuda or cuda:N (N: a GPU's number)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from vad.errors import UsageError

DEVICE_FORMS = "auto, cpu, cuda or cuda:N (N: a GPU's number)"
_FORM = re.compile(r"(auto|cpu|cuda)(?::([0-9]+))?")


class DeviceError(UsageError, ValueError):
    """A device string that is malformed or names a GPU that is not there; the message lists
    what is allowed."""


@dataclass(frozen=True)
class Device:
    """A parsed device string: ``kind`` and, for ``cuda:N``, the GPU's ``index``."""

    kind: Literal["auto", "cpu", "cuda"]
    index: int | None = None

    def __str__(self) -> str:
        return self.kind if self.index is None else f"{self.kind}:{self.index}"


def parse_device(text: str | Device) -> Device:
    """``text`` as a :class:`Device`, or :class:`DeviceError` naming what is allowed."""
    if isinstance(text, Device):
        return text
    found = _FORM.fullmatch(text) if isinstance(text, str) else None
    if found is None or (found.group(2) is not None and found.group(1) != "cuda"):
        raise DeviceError(f"unknown device {text!r}: use {DEVICE_FORMS}")
    index = found.group(2)
    return Device(found.group(1), None if index is None else int(index))  # type: ignore[arg-type]


def check_available(device: str | Device, cuda_count: int) -> Device:
    """``device`` if this process can use it with ``cuda_count`` visible GPUs, else
    :class:`DeviceError` saying which devices there are.

    >>> check_available("cuda:1", 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vad.devices.DeviceError: device 'cuda:1': this machine has 1 CUDA GPU (cuda:0); use ...
    """
    device = parse_device(device)
    if device.kind != "cuda":
        return device
    if cuda_count < 1:
        raise DeviceError(
            f"device '{device}': no CUDA GPU is visible to this process "
            "(none installed, no driver, a CPU-only torch, or CUDA_VISIBLE_DEVICES hides them); "
            "use auto or cpu"
        )
    if device.index is not None and device.index >= cuda_count:
        there = "cuda:0" if cuda_count == 1 else f"cuda:0 to cuda:{cuda_count - 1}"
        gpus = f"{cuda_count} CUDA GPU{'s' if cuda_count > 1 else ''}"
        allowed = "cuda:0" if cuda_count == 1 else f"cuda:N with N from 0 to {cuda_count - 1}"
        raise DeviceError(
            f"device '{device}': this machine has {gpus} ({there}); use auto, cpu, cuda or "
            f"{allowed}"
        )
    return device

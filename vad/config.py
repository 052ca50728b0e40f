"""Run presets (``configs/*.yaml``): detector settings as YAML data. Command-line flags override
them. Unknown keys and wrong types are errors naming the file and the key."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from vad.shipped import shipped_dir
from vad.yamlio import read_text, safe_load

CONFIGS_DIR = shipped_dir("configs")

# key -> accepted types; the keys are Detector's parameters
SCHEMA: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "pretrained": (str, type(None)),
    "context": (str,),
    "prompts": (str,),
    "sample_fps": (int, float),
    "batch_size": (int,),
    "device": (str,),
    "precision": (str,),
    "runtime": (str,),
    "smoothing": (str,),
    "window_s": (int, float),
    "context_window_s": (int, float, type(None)),
    "event_threshold": (int, float),
    "backend": (str,),
    "decode_timeout_s": (int, float),
    "head": (str,),
    "anchor": (bool, str),
    "refine": (str,),
    "motion_gate": (bool, str),
}


class ConfigError(ValueError):
    """A run preset is malformed; the message names the file and the key."""


# The one place where numeric settings and flags are checked: every numeric option of
# `vad score` / `vad eval`, given as a flag or in a preset, goes through check_value().
# key -> (integer?, lowest, highest, lowest allowed itself?, unit: what the number counts)
NUMBERS: dict[str, tuple[bool, float, float, bool, str]] = {
    "sample_fps": (False, 0.0, 1000.0, False, "frames per second"),
    "batch_size": (True, 1, 65536, True, "frames per batch"),
    "window_s": (False, 0.0, 86400.0, True, "seconds (0: no smoothing)"),
    "context_window_s": (False, 0.0, 1e9, False, "seconds"),
    "event_threshold": (False, 0.0, 1.0, True, ""),  # a score: no unit
    "decode_timeout_s": (False, 0.0, 1e6, False, "seconds"),
    "limit": (True, 1, 1e12, True, "videos"),
    "workers": (True, 1, 1e6, True, "actors"),
    "num_gpus_per_worker": (False, 0.0, 1024.0, True, "GPUs"),
    "ablate_windows": (False, 0.0, 86400.0, True, "seconds (0: no smoothing)"),
}
# text settings that must say something: an empty --context is not "auto"
NON_EMPTY = (
    "model", "context", "prompts", "device", "precision", "runtime", "smoothing", "backend"
)  # fmt: skip


def check_value(key: str, value):
    """``value`` if it is acceptable for ``key``, else :class:`ValueError` with a short reason
    (NaN, infinities, out of range, not a whole number, empty text). Strings are parsed."""
    if key in NON_EMPTY:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"must not be empty (got {value!r})")
        if key == "device":
            from vad.devices import parse_device

            parse_device(value)  # a DeviceError is a ValueError naming the allowed forms
        return value
    if key not in NUMBERS or value is None:
        return value
    integer, lo, hi, lo_ok, unit = NUMBERS[key]
    of_unit = f" of {unit}" if unit else ""
    if isinstance(value, str):
        try:
            value = int(value) if integer else float(value)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            raise ValueError(f"must be {kind}{of_unit} (got {value!r})") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number{of_unit} (got {value!r})")
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number{of_unit} (got {value})")
    if integer and value != int(value):
        raise ValueError(f"must be a whole number{of_unit} (got {value!r})")
    low = value >= lo if lo_ok else value > lo
    if not low or value > hi:
        bound = f"at least {lo:g}" if lo_ok else f"more than {lo:g}"
        unit = f" {unit}" if unit else ""
        raise ValueError(f"must be {bound} and at most {hi:g}{unit}, got {value:g}")
    return int(value) if integer else value


def check_settings(settings: dict, where: str = "") -> dict:
    """Check every known setting of ``settings`` with :func:`check_value`; :class:`ConfigError`
    names ``where`` (a file) and the key."""
    for key, value in settings.items():
        try:
            check_value(key, value)
        except ValueError as exc:
            raise ConfigError(f"{where + ': ' if where else ''}key '{key}': {exc}") from None
    return settings


def resolve_config_path(name: str | Path) -> Path:
    p = Path(name).expanduser()
    if p.suffix.lower() in (".yaml", ".yml") or p.exists():
        return p
    candidate = CONFIGS_DIR / f"{name}.yaml"
    if candidate.exists():
        return candidate
    known = ", ".join(sorted(c.stem for c in CONFIGS_DIR.glob("*.yaml")))
    raise ConfigError(f"{name}: no such config file or shipped preset (shipped: {known})")


def load_config(name: str | Path) -> dict:
    """Read and validate a preset; returns Detector keyword arguments."""
    path = resolve_config_path(name)
    try:
        data = safe_load(read_text(path))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML ({problem[:150]})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a YAML mapping of settings")
    for key, value in data.items():
        if key not in SCHEMA:
            raise ConfigError(
                f"{path}: key '{key}': unknown setting (allowed: {', '.join(SCHEMA)})"
            )
        types = SCHEMA[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ConfigError(f"{path}: key '{key}': expected {names}, got {value!r}")
    _check_scoring(path, data)
    check_settings(data, str(path))
    if data.get("prompts") and not Path(data["prompts"]).is_absolute():
        local = path.parent / data["prompts"]
        if local.exists():
            data["prompts"] = str(local)
    return data


def _check_scoring(path: Path, data: dict) -> None:
    """An unknown scoring head, anchor, refinement or motion gate names the file and the key
    (``anchor`` and ``motion_gate`` also take true/false, as older configs wrote them)."""
    from vad.scoring.heads import ANCHORS, HEADS, MOTION_GATES, REFINES

    for key, allowed in (
        ("head", HEADS),
        ("refine", REFINES),
        ("anchor", ANCHORS),
        ("motion_gate", MOTION_GATES),
    ):
        if key in data and not isinstance(data[key], bool) and data[key] not in allowed:
            extra = ", true, false" if key in ("anchor", "motion_gate") else ""
            raise ConfigError(
                f"{path}: key '{key}': unknown value {data[key]!r} "
                f"(allowed: {', '.join(allowed)}{extra})"
            )

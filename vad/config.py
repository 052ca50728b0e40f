"""Run presets (``configs/*.yaml``): detector settings as YAML data. Command-line flags override
them. Unknown keys and wrong types are errors naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import yaml

from vad.yamlio import read_text, safe_load

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"

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
    "smoothing": (str,),
    "window_s": (int, float),
    "context_window_s": (int, float, type(None)),
    "event_threshold": (int, float),
    "backend": (str,),
    "decode_timeout_s": (int, float),
    "head": (str,),
    "anchor": (bool,),
    "refine": (str,),
}


class ConfigError(ValueError):
    """A run preset is malformed; the message names the file and the key."""


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
    if data.get("prompts") and not Path(data["prompts"]).is_absolute():
        local = path.parent / data["prompts"]
        if local.exists():
            data["prompts"] = str(local)
    return data


def _check_scoring(path: Path, data: dict) -> None:
    """An unknown scoring head or refinement names the file and the key."""
    from vad.heads import HEADS, REFINES

    for key, allowed in (("head", HEADS), ("refine", REFINES)):
        if key in data and data[key] not in allowed:
            raise ConfigError(
                f"{path}: key '{key}': unknown value {data[key]!r} (allowed: {', '.join(allowed)})"
            )

"""Where the data vad ships lives: the prompt banks (``prompts/``) and run presets
(``configs/``). They sit at the top of the repository, beside ``vad/``; a wheel carries them
inside the package as ``vad/_prompts`` and ``vad/_configs`` (pyproject's ``package-dir``), so
``pip install .`` without ``-e`` finds them too. Imports nothing of vad."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: Literal["prompts", "configs"]) -> Path:
    """The folder of shipped ``name`` files: the installed package's copy when there is one,
    else the checkout's top-level folder (which may not exist: then nothing is shipped).

    >>> shipped_dir("prompts").name in ("prompts", "_prompts")
    True
    >>> shipped_dir("models")
    Traceback (most recent call last):
    ValueError: shipped_dir: name must be one of 'prompts', 'configs'; got 'models'
    """
    if name not in ("prompts", "configs"):
        raise ValueError(f"shipped_dir: name must be one of 'prompts', 'configs'; got {name!r}")
    installed = _PACKAGE / f"_{name}"
    return installed if installed.is_dir() else _PACKAGE.parent / name

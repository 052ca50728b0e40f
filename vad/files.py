"""Writing a file so that no reader ever sees half of it: :func:`atomic_write_text` writes a
temporary file in the same folder, then renames it over the target; an interrupted write
leaves nothing behind. Files get the mode ``open()`` would give them
(:func:`ordinary_permissions`), not ``mkstemp``'s 0600. Imports nothing of vad."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _read_umask() -> int:
    # read once, at import: os.umask() can only be read by setting it, which would race with
    # files other threads create meanwhile
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()


def ordinary_permissions(fd: int) -> None:
    """Give a ``mkstemp`` file (0600) the mode ``open()`` would give (0644 under umask 022),
    so other users and tools can read results as they read any output file."""
    os.fchmod(fd, 0o666 & ~UMASK)


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        ordinary_permissions(fd)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

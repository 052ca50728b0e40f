"""Finding and checking input files, before any decoding: the video suffixes vad knows
(``VIDEO_EXTENSIONS``), the checks a path fails without being decoded (missing, a folder, empty,
unreadable, text: :func:`check_input_file`) and the recursive folder search
(:func:`find_videos`), which reports paths it cannot look at instead of failing."""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

from vad.media.frames import VideoError, _first_line

log = logging.getLogger(__name__)


VIDEO_EXTENSIONS = tuple(
    ".mp4 .avi .mkv .mov .m4v .mpg .mpeg .wmv .flv .webm .ts .3gp .asf .m2ts .mts .h264 .h265 "
    ".hevc".split()
)


def check_input_file(path: Path) -> None:
    """Problems visible without decoding: missing, a folder, empty, unreadable.
    Raises :class:`VideoError` naming the file. (Pipes and devices are left to the decoders.)"""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise VideoError(f"{path}: no such file") from None
    except OSError as exc:  # a link loop, a name too long, a folder without permission
        problem = path_problem(path, exc).removeprefix(f"{path}: ")
        raise VideoError(f"{path}: cannot access it ({problem})") from None
    if stat.S_ISDIR(st.st_mode):
        raise VideoError(f"{path}: is a directory, not a video file")
    if not stat.S_ISREG(st.st_mode):
        return
    if st.st_size == 0:
        raise VideoError(f"{path}: empty file")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise VideoError(f"{path}: cannot read it ({exc.strerror})") from None


def _is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def looks_like_text(path: Path, size: int = 4096) -> bool:
    """Whether the file starts like text (UTF-8, no NUL byte, few control characters): every
    video container starts with binary headers.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
    ...     _ = f.write("notes about the cameras"); f.flush()
    ...     looks_like_text(Path(f.name))
    True
    """
    try:
        with open(path, "rb") as f:
            head = f.read(size)
    except OSError:
        return False
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the end of the block is text
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f")
    return controls <= len(text) // 100


def _is_plain(path) -> bool:
    try:
        return Path(path).is_file()  # not a FIFO or device: opening one could block
    except OSError:
        return False


MAX_FOLDER_DEPTH = 256  # folder levels searched below an input folder


TOO_DEEP = f"folders nested too deep (more than {MAX_FOLDER_DEPTH} levels); not searched"


def path_problem(path: str | Path, exc: BaseException) -> str:
    """``PATH: problem`` for an error met while looking at a path, in a user's words."""
    known = {
        errno.ENAMETOOLONG: "name too long",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ELOOP: "symbolic link loop",
        errno.ENOENT: "no such file or folder",
        errno.ENOTDIR: "a part of the path is not a folder",
    }
    if isinstance(exc, OSError):
        problem = known.get(exc.errno) or (exc.strerror or type(exc).__name__).lower()
    elif isinstance(exc, RecursionError):
        problem = "folders nested too deep"
    elif isinstance(exc, RuntimeError) and "loop" in str(exc).lower():
        problem = "symbolic link loop"  # pathlib.Path.resolve() on Python < 3.13
    else:
        problem = _first_line(exc)
    return f"{path}: {problem}"


def safe_resolve(path: Path) -> Path:
    """``path.resolve()``, or the absolute path where resolving fails (a link loop, a name
    too long): never raises, for naming and de-duplicating inputs."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def find_videos(root: str | Path, on_error=None) -> list[Path]:
    """Video files under ``root`` (recursive), sorted, by known extension.

    The walk is iterative (no recursion limit), does not follow links to folders (no loops),
    and stops :data:`MAX_FOLDER_DEPTH` levels down. A folder it cannot read (no permission,
    a name too long) is passed to ``on_error(message)`` as ``PATH: problem`` (default: a
    warning) and the walk goes on."""
    if on_error is None:
        on_error = log.warning
    root = Path(root)
    found: list[Path] = []
    stack: list[tuple[str, int]] = [(str(root), 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if depth + 1 > MAX_FOLDER_DEPTH:
                                on_error(f"{entry.path}: {TOO_DEEP}")
                            else:
                                stack.append((entry.path, depth + 1))
                        elif (
                            os.path.splitext(entry.name)[1].lower() in VIDEO_EXTENSIONS
                            and entry.is_file()
                        ):
                            found.append(Path(entry.path))
                    except OSError as exc:
                        on_error(path_problem(entry.path, exc))
        except OSError as exc:
            on_error(path_problem(folder, exc))
    return sorted(found)

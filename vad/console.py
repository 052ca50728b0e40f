"""The lines vad prints: one line each, whatever the file names hold, and a closed stdout that
does not stop a batch whose results are files.

- :func:`plural` counts things in words: "1 event", "2 events".
- :func:`one_line` escapes newlines and other control characters (a file may be named
  ``"a\\nb.mp4"``), so one video is one line of the summary and one line of errors.
- :func:`say` prints a summary line to stdout; when stdout is a closed pipe
  (``vad score DIR | head -1``) it stops printing, not scoring, and :func:`stdout_closed` says
  so afterwards.
"""

from __future__ import annotations

import os
import sys

_CONTROL = {i: f"\\x{i:02x}" for i in [*range(0x20), 0x7F]}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_closed = False


def one_line(text: str) -> str:
    """``text`` with newlines and other control characters escapes (``\\n``, ``\\x1b``), so it
    stays one line and cannot move a terminal's cursor; printable text (any script) is kept."""
    return text.translate(_CONTROL)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and ``word``, in the plural unless ``n`` is 1 (``many``: an irregular plural).

    >>> plural(1, "event"), plural(0, "event"), plural(2, "match", "matches")
    ('1 event', '0 events', '2 matches')
    """
    return f"{n} {word if n == 1 else many or word + 's'}"


def say(line: str, write=None) -> None:
    """Print ``line`` (made :func:`one_line`) on stdout, through ``write`` when given (e.g.
    ``tqdm.write``). A closed stdout is remembered and later lines are dropped: the caller
    goes on with its work (results are files) and reports :func:`stdout_closed` at the end."""
    global _closed
    if _closed:
        return
    try:
        if write is None:
            print(one_line(line), file=sys.stdout, flush=True)
        else:
            write(one_line(line), file=sys.stdout)
            sys.stdout.flush()
    except (BrokenPipeError, ValueError):  # ValueError: writing to a closed file object
        _closed = True
        _silence_stdout()


def stdout_closed() -> bool:
    """Whether stdout was found closed while printing."""
    return _closed


def _silence_stdout() -> None:
    """Point fd 1 and ``sys.stdout`` at /dev/null, so that neither later prints nor the
    interpreter's flush at exit fail again ("Exception ignored ... BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


def reset() -> None:
    """Forget a closed stdout (a new run in the same process, e.g. tests)."""
    global _closed
    _closed = False

"""Errors that end a whole run (not one video's problem): the CLI turns them into exit status 2
with one line on stderr."""

from __future__ import annotations


class UsageError(Exception):
    """Bad options, config, prompt bank, weights or engine setup: exit status 2, one line."""


class WeightsUnavailable(RuntimeError):
    """Pretrained weights are neither cached nor downloadable. The message says what to do, in
    the Python API's words (``Detector(pretrained=...)``); ``cli_message`` says it in the
    command line's (``--pretrained ...``)."""

    def __init__(self, message: str, cli_message: str | None = None):
        super().__init__(message)
        self.cli_message = cli_message or message


class BadCheckpoint(WeightsUnavailable):
    """A checkpoint file is refused (pickled code, not plain tensors) or does not load."""


class UnknownModel(ValueError):
    """The model name is neither an open_clip model nor a ``local-dir:``/``hf-hub:`` spec."""


class EncoderFailure(UsageError, RuntimeError):
    """The model cannot run as set up: the GPU ran out of memory, or its embeddings are not
    finite (an overflow at fp16). Every later video would fail the same way, so the run stops
    with one line saying which option to change (exit status 2)."""


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message``, short enough for a one-line error."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__

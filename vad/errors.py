"""Errors that end a whole run (not one video's problem): the CLI turns them into exit status 2
with one line on stderr."""

from __future__ import annotations


class UsageError(Exception):
    """Bad options, config, prompt bank, weights or engine setup: exit status 2, one line."""


class EncoderFailure(UsageError, RuntimeError):
    """The model cannot run as set up: the GPU ran out of memory, or its embeddings are not
    finite (an overflow at fp16). Every later video would fail the same way, so the run stops
    with one line saying which option to change (exit status 2)."""

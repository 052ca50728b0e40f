"""Errors that end a whole run (not one video's problem): the CLI turns them into exit status 2
with one line on stderr."""

from __future__ import annotations


class UsageError(Exception):
    """Bad options, config, prompt bank, weights or engine setup: exit status 2, one line."""

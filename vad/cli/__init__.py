"""The command line, ``vad VERB``: one module per verb (:mod:`~vad.cli.score`,
:mod:`~vad.cli.eval`, :mod:`~vad.cli.watch`, :mod:`~vad.cli.calibrate`,
:mod:`~vad.cli.search`, :mod:`~vad.cli.prompts`, :mod:`~vad.cli.models`), each with its parser
and its handler; the option groups they share (:mod:`~vad.cli.options`), building the detector
and the engine from them (:mod:`~vad.cli.build`), and :func:`main` with the exit statuses and
signals (:mod:`~vad.cli.app`). It parses and calls; the work happens below.

May import: anything in vad, lazily where it is heavy (``vad --help`` imports no model and no
numpy-heavy module). Nothing imports it but ``python -m vad`` (and the ``vad`` script,
``vad.cli:main``).
"""

from __future__ import annotations

from vad.cli.app import build_parser, main

__all__ = ["build_parser", "main"]

"""The engine interface: score a list of videos, yield one :class:`VideoOutcome` per video.

``vad score`` and ``vad eval`` consume outcomes the same way whichever engine made them; they
choose the engine and nothing else. Two engines implement it:
:class:`~vad.engines.local.LocalEngine` (this process, one :class:`~vad.pipeline.Detector`) and
:class:`vad.engines.ray.run.RayEngine` (a Ray cluster). Engines never print and never write score
files: their consumers do.

>>> engine = LocalEngine(Detector(context="auto"))                       # doctest: +SKIP
>>> for out in engine.run(["a.mp4", "b.mp4"]):                          # doctest: +SKIP
...     print(out.index, out.error or out.result["num_frames"])"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from vad.cache import VideoEmbeddings


@dataclass
class VideoOutcome:
    """What an engine returns for one input video: its result or the one-line error."""

    index: int  # position in the list given to ``run``
    path: Path
    result: dict | None = None
    embeddings: VideoEmbeddings | None = None  # only with ``run(..., keep_embeddings=True)``
    error: str | None = None
    seconds: float = 0.0  # decoding, encoding and scoring
    score_seconds: float = 0.0  # of which scoring (the rest: embedding)
    from_cache: bool = False  # the embeddings came from the cache


class Engine(Protocol):
    """Scores videos. ``run`` yields one outcome per path (in any order; ``index`` says which);
    a problem with one video is an outcome with an ``error``, a problem with the whole run
    (weights, an unreachable cluster) raises :class:`~vad.errors.UsageError` or the detector's
    own usage errors."""

    def run(
        self, paths: Sequence[str | Path], *, keep_embeddings: bool = False
    ) -> Iterator[VideoOutcome]: ...

    def close(self) -> None: ...

"""The engine interface: score a list of videos, yield one :class:`VideoOutcome` per video.

``vad score`` and ``vad eval`` consume outcomes the same way whichever engine made them; they
choose the engine and nothing else. Two engines implement it: :class:`LocalEngine` (this
process, one :class:`~vad.pipeline.Detector`) and :class:`vad.engine_ray.RayEngine` (a Ray
cluster). Engines never print and never write score files: their consumers do.

>>> engine = LocalEngine(Detector(context="auto"))                       # doctest: +SKIP
>>> for out in engine.run(["a.mp4", "b.mp4"]):                          # doctest: +SKIP
...     print(out.index, out.error or out.result["num_frames"])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from vad.errors import UsageError
from vad.naming import first_line

if TYPE_CHECKING:
    from vad.cache import VideoEmbeddings
    from vad.pipeline import Detector

log = logging.getLogger("vad")


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


class LocalEngine:
    """This process: one :class:`~vad.pipeline.Detector`, one video after another, in order."""

    def __init__(self, detector: Detector):
        self.detector = detector
        self.sample_fps = detector.sample_fps
        # on_samples(index, n): n more frames of input ``index`` were sampled (progress bars)
        self.on_samples = None

    def run(
        self, paths: Sequence[str | Path], *, keep_embeddings: bool = False
    ) -> Iterator[VideoOutcome]:
        from vad.video import VideoError

        self.detector.encoder  # noqa: B018 - load the model before the first video
        for index, path in enumerate(paths):
            out = VideoOutcome(index, Path(path))
            t0 = time.perf_counter()
            if self.on_samples is not None:
                self.detector.on_samples = lambda n, index=index: self.on_samples(index, n)
            try:
                emb = self.detector.embed(path)
                t1 = time.perf_counter()
                out.result = self.detector.score_embeddings(emb, video=path)
                out.score_seconds = time.perf_counter() - t1
            except VideoError as exc:
                out.error = str(exc)
            except UsageError:  # the model cannot run as set up (out of memory): stop the run
                raise
            except Exception as exc:  # noqa: BLE001 - one input's problem, not the batch's
                log.debug("%s: scoring failed", path, exc_info=True)
                out.error = f"{path}: scoring failed ({first_line(exc)})"
            else:
                out.from_cache = emb.from_cache
                out.embeddings = emb if keep_embeddings else None
            out.seconds = time.perf_counter() - t0
            yield out

    def close(self) -> None:
        """Stop the detector's decode worker."""
        self.detector.close()

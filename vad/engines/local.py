"""The local engine: every video in this process, one after another, with one
:class:`~vad.pipeline.Detector` (its decode worker, its model, its cache). What a failed
video becomes (a one-line error) is decided here, the same way the Ray engine decides it."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vad.engines.protocol import VideoOutcome
from vad.errors import UsageError, first_line

if TYPE_CHECKING:
    from vad.pipeline import Detector

log = logging.getLogger("vad")


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
        from vad.media.frames import VideoError

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

"""Stage 3, the actor pool: :class:`EncodeActor`, a plain callable class for
``map_batches`` (no Ray code inside) that loads the model once and turns a segment's pixels
into embeddings with the local engine's :func:`~vad.pipeline.encode_pixels`; on CPU actors it
decodes the segment itself, in a thread, as the local engine does."""

from __future__ import annotations

import json
import logging
import time

import numpy as np

from vad.engines.ray.decode import _decode_meta, _stream, return_free_heap
from vad.engines.ray.plan import _Plan
from vad.engines.ray.rows import _failed, _row
from vad.errors import EncoderFailure, first_line
from vad.media.frames import VideoError

log = logging.getLogger(__name__)


class EncodeActor:
    """Callable class for ``map_batches``: holds one model and turns decoded segments into
    embeddings with the local engine's own encoder calls."""

    def __init__(self, plan: _Plan):
        from vad.pipeline import Detector

        # the plan carries the driver's loaded bank: a worker node reads no bank file (a
        # remote one gets vad's code from Ray, not prompts/)
        settings = {**plan.settings, "isolate_decoding": False}
        self.plan = plan
        self.detector = Detector(**settings)
        encoder = self.detector.encoder  # load the model now, once
        self.cacheable = plan.identity is not None and encoder.identity() == plan.identity
        if plan.identity is not None and not self.cacheable:
            log.warning(
                "worker encoder identity %s differs from the driver's %s: not caching",
                encoder.identity(), plan.identity,
            )  # fmt: skip

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A batch of one segment (``batch_size=1``) in, the same with its embeddings out."""
        row = {k: v[0] for k, v in batch.items()}
        try:
            if self.plan.decode_in_actor:
                out = self._decode_and_encode(_row(row))
            else:
                out = self._encode_row(row)
        finally:
            return_free_heap()
        return {
            k: v[None] if isinstance(v, np.ndarray) else np.asarray([v]) for k, v in out.items()
        }

    def _decode_and_encode(self, row: dict) -> dict:
        """A segment decoded by a thread of this actor while it encodes, as in the local engine
        (on CPUs: no decode task, and no process of its own holding frames)."""
        from vad.pipeline import encode_pixels

        t0 = time.perf_counter()
        indices, times = [], []

        def pixels(batches):
            for batch in batches:
                indices.append(batch.indices)
                times.append(batch.times)
                yield np.ascontiguousarray(batch.pixels)

        try:
            video, batches = _stream(row, self.plan)
            embeddings = encode_pixels(self.detector.encoder, pixels(batches))
        except VideoError as exc:
            return _failed(row, exc, t0)
        except EncoderFailure as exc:  # out of memory: the driver stops the run
            return _row(row, error=str(exc), meta=json.dumps({"fatal": True}))
        except Exception as exc:  # noqa: BLE001 - reported for this video, the job goes on
            error = f"{row['path']}: scoring failed ({first_line(exc)})"
            return _row(row, error=error, seconds=time.perf_counter() - t0)
        meta = {**_decode_meta(video, row), "cacheable": self.cacheable}
        if not indices:
            return _row(row, meta=json.dumps(meta), seconds=time.perf_counter() - t0)
        return _row(
            row, meta=json.dumps(meta), embeddings=embeddings,
            indices=np.concatenate(indices).astype(np.int64),
            times=np.concatenate(times).astype(np.float64),
            seconds=time.perf_counter() - t0,
        )  # fmt: skip

    def _encode_row(self, row: dict) -> dict:
        from vad.pipeline import encode_pixels

        if row["error"] or not len(row["indices"]):
            return _row(row, error=str(row["error"]), meta=str(row["meta"]),
                        seconds=float(row["seconds"]))  # fmt: skip
        t0 = time.perf_counter()
        pixels, size = np.asarray(row["pixels"]), self.detector.batch_size
        chunks = (
            np.require(pixels[i : i + size], requirements="CW") for i in range(0, len(pixels), size)
        )
        try:
            embeddings = encode_pixels(self.detector.encoder, chunks)
        except EncoderFailure as exc:  # out of memory: the driver stops the run
            return _row(row, error=str(exc), meta=json.dumps({"fatal": True}))
        except Exception as exc:  # noqa: BLE001 - reported for this video, the job goes on
            error = f"{row['path']}: scoring failed ({first_line(exc)})"
            return _row(row, error=error, seconds=float(row["seconds"]))
        meta = {**json.loads(str(row["meta"])), "cacheable": self.cacheable}
        return _row(
            row, meta=json.dumps(meta), embeddings=embeddings,
            indices=np.asarray(row["indices"], np.int64),
            times=np.asarray(row["times"], np.float64),
            seconds=float(row["seconds"]) + time.perf_counter() - t0,
        )  # fmt: skip

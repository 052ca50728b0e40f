"""Decoding in an isolated worker process, overlapped with encoding.

The worker decodes, samples, resizes and crops frames to the model's input size (uint8), and
hands them over through a bounded queue, so:

- decoding runs in parallel with the encoder (another process: no GIL contention);
- memory stays bounded by ``depth`` batches, whatever the video's length;
- a native decoder that hangs or crashes (decord deadlocks on over-reported lengths; corrupt
  files can stall FFmpeg) costs one video, not the batch: when the worker makes no progress for
  ``timeout_s`` seconds it is killed, the video is reported, and a fresh worker takes the next.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vad.video import FrameSampler, VideoError

POLL_S = 0.5
BOOT_TIMEOUT_S = 120.0  # a fresh worker imports torch and OpenCV before its first frame


@dataclass
class DecodedBatch:
    """Sampled frames resized and cropped to the model's size: uint8 (N,3,h,w)."""

    pixels: np.ndarray
    indices: np.ndarray
    times: np.ndarray


@dataclass
class DecodedVideo:
    """Filled in while iterating ``batches``; complete once the iteration ends."""

    path: Path
    fps: float = 0.0
    reported_frames: int = 0
    num_decoded: int = 0
    warnings: list[str] = field(default_factory=list)


def _produce(path, sampler: FrameSampler, preprocess, emit) -> None:
    """Decode ``path`` and ``emit`` messages: info, progress, batch..., done (or error)."""
    try:
        stream = sampler.open(path)
        emit(("info", stream.fps, stream.info.reported_frames))
        stream.on_progress = lambda n: emit(("progress", n))
        for b in stream:
            emit(("batch", preprocess.resize_crop(b.frames).numpy(), b.indices, b.times))
        emit(("done", stream.num_decoded, list(stream.warnings)))
    except VideoError as exc:
        emit(("error", str(exc)))
    except Exception as exc:  # noqa: BLE001 - any decoder failure is this video's problem
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        emit(("error", f"{path}: decoding failed ({first})"))


def _quiet_native_stderr() -> None:
    """Send this process's fd 2 to /dev/null: FFmpeg and decord print a line per damaged
    macroblock, which would bury the one line vad prints per failed video."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _exit_with_parent(parent: int) -> None:
    """End this worker when the process that started it is gone (killed, crashed): a worker
    blocked on a full queue or a hung decoder would otherwise outlive it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="vad-decode-watchdog").start()


def _serve(tasks, results, quiet: bool = True, parent: int | None = None) -> None:
    """Worker process main loop: one task (job id, path, sampler, preprocess) at a time."""
    # Ctrl-C reaches the whole process group; the parent decides and stops this worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        _exit_with_parent(parent)
    if quiet:
        _quiet_native_stderr()
    import cv2
    import torch

    torch.set_num_threads(1)  # the encoder owns the cores; decoding fills the gaps
    cv2.setNumThreads(1)
    results.put((0, "ready"))  # job ids start at 1
    while True:
        task = tasks.get()
        if task is None:
            # Nothing is left to send (the parent has read this job's last message): skip the
            # interpreter's teardown, about a second with torch imported, which close() waits for.
            os._exit(0)
        job, path, sampler, preprocess = task
        _produce(path, sampler, preprocess, lambda msg, job=job: results.put((job, *msg)))


class DecodeWorker:
    """Streams decoded, model-sized frames of one video after another.

    Parameters
    ----------
    sampler : the frame sampler (sampling rate, batch size, backend).
    preprocess : the encoder's :class:`~vad.encoder.Preprocess` (resize and crop happen here).
    timeout_s : a video whose decoding makes no progress for this long is abandoned.
    depth : batches decoded ahead of the encoder.
    isolate : decode in a separate process (default); ``False`` uses a thread in this process
        (no hang protection; for debugging and tests of the decoding itself).
    """

    def __init__(self, sampler: FrameSampler, preprocess, timeout_s: float = 60.0,
                 depth: int = 2, isolate: bool = True):  # fmt: skip
        self.sampler = sampler
        self.preprocess = preprocess
        self.timeout_s = timeout_s
        self.depth = depth
        self.isolate = isolate
        self._proc = None
        self._tasks = self._results = None
        self._job = 0
        self._ready = False  # the worker process has booted (its imports are done)

    # -- process management --------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker process now (it imports while the model loads)."""
        if not self.isolate or (self._proc is not None and self._proc.is_alive()):
            return
        ctx = mp.get_context("spawn")  # fork is unsafe with torch / OpenMP threads
        self._ready = False
        self._tasks = ctx.Queue()
        self._results = ctx.Queue(maxsize=self.depth)
        # native decoder chatter only with --verbose (the vad logger at DEBUG)
        quiet = not logging.getLogger("vad").isEnabledFor(logging.DEBUG)
        self._proc = ctx.Process(
            target=_serve,
            args=(self._tasks, self._results, quiet, os.getpid()),
            daemon=True,
            name="vad-decode",
        )
        self._proc.start()

    def close(self) -> None:
        """Stop the worker process (a new one starts on the next video)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            self._tasks.put(None)
            proc.join(timeout=1.0)
        except (OSError, ValueError):
            pass
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5.0)
        for q in (self._tasks, self._results):
            q.cancel_join_thread()
            q.close()

    def __enter__(self) -> DecodeWorker:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # -- streaming -------------------------------------------------------------------------------

    def stream(self, path: str | Path) -> tuple[DecodedVideo, Iterator[DecodedBatch]]:
        """``(video, batches)``: iterate ``batches``; ``video`` is complete afterwards.
        Raises :class:`VideoError` (naming the file) for undecodable, hung or crashed input."""
        video = DecodedVideo(Path(path))
        return video, self._batches(video)

    def _batches(self, video: DecodedVideo) -> Iterator[DecodedBatch]:
        messages = (
            self._messages_process(video.path)
            if self.isolate
            else self._messages_thread(video.path)
        )
        finished = False
        try:
            for kind, *rest in messages:
                if kind == "info":
                    video.fps, video.reported_frames = rest
                elif kind == "batch":
                    yield DecodedBatch(*rest)
                elif kind == "done":
                    video.num_decoded, video.warnings = rest[0], list(rest[1])
                    finished = True
                    return
                elif kind == "error":
                    finished = True
                    raise VideoError(rest[0])
        finally:
            if not finished and self.isolate:
                self.close()  # abandoned mid-video: the worker may still be producing

    def _messages_process(self, path: Path):
        self.start()
        self._job += 1
        job = self._job
        self._tasks.put((job, str(path), self.sampler, self.preprocess))
        last = time.monotonic()
        while True:
            try:
                msg = self._results.get(timeout=POLL_S)
            except queue.Empty:
                if not self._proc.is_alive():
                    code = self._proc.exitcode
                    self.close()
                    raise VideoError(
                        f"{path}: the decoder crashed on this file (exit code {code})"
                    ) from None
                # the time limit is for decoding: a worker still booting gets longer
                limit = self.timeout_s if self._ready else max(self.timeout_s, BOOT_TIMEOUT_S)
                if time.monotonic() - last > limit:
                    self.close()
                    raise VideoError(
                        f"{path}: decoding timed out (no progress for {self.timeout_s:g} s; "
                        "a slow but healthy file needs a longer --decode-timeout)"
                    ) from None
                continue
            last = time.monotonic()
            if msg[1] == "ready":
                self._ready = True
                continue
            if msg[0] != job:  # left over from an abandoned video
                continue
            if msg[1] != "progress":
                yield msg[1:]
                if msg[1] in ("done", "error"):
                    return

    def _messages_thread(self, path: Path):
        q: queue.Queue = queue.Queue(maxsize=self.depth)
        stop = threading.Event()

        def emit(msg):
            while not stop.is_set():
                try:
                    q.put(msg, timeout=POLL_S)
                    return
                except queue.Full:
                    continue

        thread = threading.Thread(
            target=_produce, args=(path, self.sampler, self.preprocess, emit), daemon=True
        )
        thread.start()
        try:
            while True:
                msg = q.get()
                if msg[0] == "progress":
                    continue
                yield msg
                if msg[0] in ("done", "error"):
                    return
        finally:
            stop.set()
            thread.join(timeout=5)

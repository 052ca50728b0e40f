"""Decoding in an isolated worker process, overlapped with encoding.

The worker decodes, samples, resizes and crops frames to the model's input size (uint8), and
streams them to the parent through a pipe, so:

- decoding runs in parallel with the encoder (another process: no GIL contention);
- memory stays bounded: the worker blocks when the pipe is full, whatever the video's length;
- a native decoder that hangs or crashes (decord deadlocks on over-reported lengths; corrupt
  files can stall FFmpeg) costs one video, not the batch: when the worker makes no progress for
  ``timeout_s`` seconds it is killed, the video is reported, and a fresh worker takes the next.

The worker is its own program, ``python -m vad.worker``, not a ``multiprocessing`` child: a
``spawn`` child re-imports the parent's ``__main__`` module, so a user's script without an
``if __name__ == "__main__":`` guard would run again in every worker.

Protocol. Parent to worker (stdin): one task per frame - a 4-byte big-endian length and a pickle
of ``(job, path, sampler, preprocess)``, or length 0 to stop (the parent's own objects, sent to
its own child). Worker to parent (stdout): frames of a 4-byte length, a JSON header, and for a
batch the raw uint8 pixels (the header gives their shape), then indices (int64) and times
(float64). Nothing the worker sends is unpickled.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import queue
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vad.media.frames import VideoError
from vad.media.sampler import FrameSampler

POLL_S = 0.5
RESIZE_CHUNK = 8  # frames resized between two signs of life (PIL: a few ms each)
BOOT_TIMEOUT_S = 120.0  # a fresh worker imports numpy, OpenCV and PyAV before its first frame
_LEN = struct.Struct(">I")


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
    frame_times: np.ndarray | None = None  # per decoded frame, when not index / fps
    reached_end: bool = False  # a window's decoding saw a frame at or past its end


def _produce(path, sampler: FrameSampler, preprocess, emit) -> None:
    """Decode ``path`` and ``emit`` messages: info, progress, batch..., done (or error)."""
    try:
        stream = sampler.open(path)
        emit(("info", stream.fps, stream.info.reported_frames))
        stream.on_progress = lambda n: emit(("progress", n))
        for b in stream:
            pixels = []
            for i in range(0, len(b.frames), RESIZE_CHUNK):  # resizing is progress too
                pixels.append(np.asarray(preprocess.resize_crop(b.frames[i : i + RESIZE_CHUNK])))
                emit(("progress", 0))
            pixels = np.concatenate(pixels) if pixels else preprocess.resize_crop(b.frames)
            emit(("batch", pixels, b.indices, b.times))
        times = stream.frame_times  # None for a constant frame rate
        emit(("done", stream.num_decoded, list(stream.warnings),
              None if times is None else times.tolist(), stream.reached_end))  # fmt: skip
    except VideoError as exc:
        emit(("error", str(exc)))
    except Exception as exc:  # noqa: BLE001 - any decoder failure is this video's problem
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        emit(("error", f"{path}: decoding failed ({first})"))


# -- the wire format -----------------------------------------------------------------------------


def encode_message(job: int, msg: tuple) -> list[bytes]:
    """``(job, kind, *rest)`` as frames for the pipe (see the module docstring)."""
    kind, *rest = msg
    if kind == "batch":
        pixels, indices, times = (np.ascontiguousarray(a) for a in rest)
        pixels = pixels.astype(np.uint8, copy=False)
        header = {"job": job, "kind": kind, "shape": list(pixels.shape), "n": len(indices)}
        body = [pixels.tobytes(), indices.astype("<i8").tobytes(), times.astype("<f8").tobytes()]
    else:
        header = {"job": job, "kind": kind, "args": list(rest)}
        body = []
    head = json.dumps(header).encode()
    payload = b"".join(body)
    return [_LEN.pack(len(head)), head, _LEN.pack(len(payload)), payload]


def decode_message(head: bytes | bytearray, payload: bytes | bytearray) -> tuple:
    """The inverse of :func:`encode_message`: ``(job, kind, *rest)``."""
    header = json.loads(head)
    job, kind = int(header["job"]), str(header["kind"])
    if kind != "batch":
        return (job, kind, *header["args"])
    shape, n = tuple(int(x) for x in header["shape"]), int(header["n"])
    size = int(np.prod(shape))
    if len(payload) != size + 16 * n:
        raise ValueError("batch payload size does not match its header")
    pixels = np.frombuffer(payload, np.uint8, size).reshape(shape)
    indices = np.frombuffer(payload, "<i8", n, offset=size).astype(np.int64)
    times = np.frombuffer(payload, "<f8", n, offset=size + 8 * n).astype(np.float64)
    return (job, kind, pixels, indices, times)


class _Reader:
    """Reads length-prefixed frames from a pipe without blocking past a deadline."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buf = bytearray()

    def _frame(self, start: int) -> tuple[bytearray, int] | None:
        if len(self.buf) < start + 4:
            return None
        (size,) = _LEN.unpack_from(self.buf, start)
        end = start + 4 + size
        if len(self.buf) < end:
            return None
        return self.buf[start + 4 : end], end  # a copy, writable: frames become tensors

    def _complete(self):
        first = self._frame(0)
        if first is None:
            return None
        second = self._frame(first[1])
        if second is None:
            return None
        del self.buf[: second[1]]
        return decode_message(first[0], second[0])

    def read(self, timeout: float):
        """The next message, or ``None`` when none is complete within ``timeout`` seconds
        (while bytes keep arriving it waits on: a large batch is progress). Raises
        :class:`EOFError` when the worker closed its end."""
        while True:
            msg = self._complete()
            if msg is not None:
                return msg
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                raise EOFError
            self.buf += chunk


# -- the worker program --------------------------------------------------------------------------


def _quiet_native_stderr() -> None:
    """Send this process's fd 2 to /dev/null: FFmpeg and decord print a line per damaged
    macroblock, which would bury the one line vad prints per failed video."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _exit_with_parent(parent: int) -> None:
    """End this worker when the process that started it is gone (killed, crashed): a worker
    blocked on a full pipe or a hung decoder would otherwise outlive it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="vad-decode-watchdog").start()


def _read_exact(f, n: int) -> bytes | None:
    data = f.read(n)
    return data if data is not None and len(data) == n else None


def serve(
    tasks_in, results_fd: int, quiet: bool = True, parent: int | None = None, depth: int = 2
) -> None:
    """Worker main loop: one task (job id, path, sampler, preprocess) at a time."""
    # The parent decides when this worker stops (a Ctrl-C sent to a process group, e.g. by
    # `kill -INT -PGID`, could still reach it).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        _exit_with_parent(parent)
    if quiet:
        _quiet_native_stderr()
    import cv2

    cv2.setNumThreads(1)  # the encoder owns the cores; decoding fills the gaps

    # A sender thread writes to the pipe, so decoding runs up to ``depth`` batches ahead of
    # the parent's reading while memory stays bounded.
    outbox: queue.Queue = queue.Queue(maxsize=max(1, depth))

    def sender() -> None:
        try:
            while True:
                for part in outbox.get():
                    view = memoryview(part)
                    while view:
                        view = view[os.write(results_fd, view) :]
        except OSError:  # the parent is gone or gave up on this video (EPIPE)
            os._exit(0)

    threading.Thread(target=sender, daemon=True, name="vad-decode-sender").start()

    def send(job: int, msg: tuple) -> None:
        outbox.put(encode_message(job, msg))

    send(0, ("ready",))  # job ids start at 1
    while True:
        head = _read_exact(tasks_in, 4)
        size = _LEN.unpack(head)[0] if head else 0
        if size == 0:
            # The parent has read this job's last message, so nothing is left to send: skip the
            # interpreter's teardown, which close() waits for.
            os._exit(0)
        job, path, sampler, preprocess = pickle.loads(_read_exact(tasks_in, size) or b"")
        _produce(path, sampler, preprocess, lambda msg, job=job: send(job, msg))


def worker_main(argv: list[str] | None = None) -> None:
    """``python -m vad.worker PARENT_PID DEPTH [--verbose]``: serve tasks from stdin."""
    argv = sys.argv[1:] if argv is None else argv
    parent, depth = int(argv[0]), int(argv[1])
    # The protocol owns fd 1: anything a library prints goes to stderr instead.
    results_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, results_fd, "--verbose" not in argv, parent, depth)


def _worker_env() -> dict:
    """The worker imports the same ``vad`` as this process: from a checkout (tests, a
    PYTHONPATH) its folder is put on the worker's path; an installed vad is found as usual
    (its site-packages folder is not put ahead of the standard library)."""
    import site

    root = os.path.realpath(Path(__file__).resolve().parents[2])  # the folder holding vad/
    env = dict(os.environ)
    installed = {os.path.realpath(p) for p in [*site.getsitepackages(),
                                               site.getusersitepackages()]}  # fmt: skip
    given = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in installed and root not in {os.path.realpath(p) for p in given}:
        env["PYTHONPATH"] = os.pathsep.join([root, *given])
    return env


def _timed_out(path, timeout_s: float) -> str:
    return (
        f"{path}: decoding timed out (no progress for {timeout_s:g} s; "
        "a slow but healthy file needs a longer --decode-timeout)"
    )


class DecodeWorker:
    """Streams decoded, model-sized frames of one video after another.

    Parameters
    ----------
    sampler : the frame sampler (sampling rate, batch size, backend).
    preprocess : the encoder's :class:`~vad.model.preprocess.Preprocess` (resize and crop
        happen here).
    timeout_s : a video whose decoding makes no progress for this long is abandoned.
    depth : batches decoded ahead of the encoder.
    isolate : decode in a separate process (default); ``False`` uses a thread in this process
        (no crash isolation; a video that stalls for ``timeout_s`` is reported but its thread,
        which cannot be killed, stays blocked and :attr:`stalled` becomes true).
    """

    def __init__(self, sampler: FrameSampler, preprocess, timeout_s: float = 60.0,
                 depth: int = 2, isolate: bool = True):  # fmt: skip
        self.sampler = sampler
        self.preprocess = preprocess
        self.timeout_s = timeout_s
        self.depth = depth
        self.isolate = isolate
        self._proc: subprocess.Popen | None = None
        self._reader: _Reader | None = None
        self._job = 0
        self._ready = False  # the worker process has booted (its imports are done)
        self.stalled = False  # a decoding thread was left blocked (isolate=False)

    # -- process management --------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker process now (it imports while the model loads)."""
        if not self.isolate or (self._proc is not None and self._proc.poll() is None):
            return
        self._ready = False
        # native decoder chatter only with --verbose (the vad logger at DEBUG)
        verbose = logging.getLogger("vad").isEnabledFor(logging.DEBUG)
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vad.worker",
                str(os.getpid()),
                str(self.depth),
                *(["--verbose"] if verbose else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_worker_env(),
            close_fds=True,
            # its own process group: a terminal's Ctrl-C goes to vad, which stops the worker;
            # it would otherwise also hit the worker's interpreter while it starts up
            start_new_session=True,
        )
        self._reader = _Reader(self._proc.stdout.fileno())

    def close(self) -> None:
        """Stop the worker process (a new one starts on the next video)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.write(_LEN.pack(0))
            proc.stdin.close()
            proc.wait(timeout=1.0)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                pass
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass

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
                    if rest[2] is not None:
                        video.frame_times = np.asarray(rest[2], dtype=np.float64)
                    video.reached_end = bool(rest[3]) if len(rest) > 3 else False
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
        task = pickle.dumps((job, str(path), self.sampler, self.preprocess))
        try:
            self._proc.stdin.write(_LEN.pack(len(task)) + task)
            self._proc.stdin.flush()
        except OSError:  # the worker died before its task arrived: the loop below reports it
            pass
        last = time.monotonic()
        while True:
            try:
                msg = self._reader.read(POLL_S)
            except (EOFError, OSError, ValueError):
                msg, code = None, self._proc.wait()
                self.close()
                raise VideoError(
                    f"{path}: the decoder crashed on this file (exit code {code})"
                ) from None
            if msg is None:
                # the time limit is for decoding: a worker still booting gets longer
                limit = self.timeout_s if self._ready else max(self.timeout_s, BOOT_TIMEOUT_S)
                if time.monotonic() - last > limit:
                    self.close()
                    raise VideoError(_timed_out(path, self.timeout_s)) from None
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
                try:  # progress messages count: a slow but steady file is not stalled
                    msg = q.get(timeout=self.timeout_s)
                except queue.Empty:
                    # a thread cannot be killed: it is left blocked, the video is reported
                    self.stalled = True
                    raise VideoError(_timed_out(path, self.timeout_s)) from None
                if msg[0] == "progress":
                    continue
                yield msg
                if msg[0] in ("done", "error"):
                    return
        finally:
            stop.set()
            thread.join(timeout=0 if self.stalled else 5)


if __name__ == "__main__":
    worker_main()

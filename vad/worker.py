"""``python -m vad.worker PARENT_PID DEPTH [--verbose]``: the decode worker program's command
line, which :class:`vad.media.worker.DecodeWorker` launches; the program itself is
:mod:`vad.media.worker`. Kept at this path so that the command line does not change."""

from __future__ import annotations

if __name__ == "__main__":
    from vad.media.worker import worker_main

    worker_main()

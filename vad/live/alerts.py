"""Where ``vad watch`` sends what it finds.

- :class:`JsonlWriter`: one JSON object per line (``-`` = stdout), flushed line by line, so a
  reader (``tail -f``, a log shipper) sees each record as soon as it is written.
- :class:`CommandAlert`: ``--on-event CMD`` runs ``CMD`` through the shell with the record's
  JSON on stdin, once per alert record (events and camera health, each opened and closed).
- :class:`Webhook`: ``--webhook URL`` POSTs the record's JSON, retrying with exponential
  backoff.

Commands and webhooks run in their own threads behind bounded queues: a slow command or a dead
receiver never blocks scoring; when a queue is full the oldest alert is dropped and counted.
"""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import IO

log = logging.getLogger(__name__)


class JsonlWriter:
    """Thread-safe JSON Lines writer; ``path='-'`` writes to stdout."""

    def __init__(self, path: str | None):
        self.path = path
        self._lock = threading.Lock()
        self._own = False
        self._f: IO[str] | None = None
        if path == "-":
            self._f = sys.stdout
        elif path:
            try:
                self._f = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise ValueError(f"{path}: cannot open for writing ({exc.strerror})") from exc
            self._own = True

    def write(self, record: dict) -> None:
        if self._f is None:
            return
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                self._f.write(line)
                self._f.flush()
            except (BrokenPipeError, ValueError):  # the reader went away (or closed)
                self._f = None

    def close(self) -> None:
        with self._lock:
            if self._f is not None:
                try:
                    self._f.flush()
                except (BrokenPipeError, ValueError):
                    pass
                if self._own:
                    self._f.close()
            self._f = None


class _QueuedSender:
    """A daemon thread draining a bounded queue; ``send`` never blocks (drops the oldest)."""

    name = "alert"

    def __init__(self, max_queue: int = 1000):
        self._queue: queue.Queue = queue.Queue(max_queue)
        self._stop = threading.Event()
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=f"vad-{self.name}", daemon=True)
        self._thread.start()

    def send(self, record: dict) -> None:
        while True:
            try:
                self._queue.put_nowait(record)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self._queue.task_done()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def _run(self) -> None:
        while True:
            record = self._queue.get()
            try:
                if record is None:
                    return
                if self._deliver(record):
                    self.sent += 1
                else:
                    self.failed += 1
            except Exception:  # noqa: BLE001 - an alert failing must not end the thread
                log.exception("%s: delivery failed", self.name)
                self.failed += 1
            finally:
                self._queue.task_done()

    def _deliver(self, record: dict) -> bool:
        raise NotImplementedError

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued, for at most ``timeout_s`` seconds; then give up on the rest
        (retries stop waiting at once)."""
        deadline = time.monotonic() + timeout_s
        self.send(None)  # type: ignore[arg-type] - the end marker
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(2.0)
            left = self._queue.qsize()
            if left:
                log.warning("%s: %d alerts not delivered before exit", self.name, left)
                self.dropped += left

    def stats(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "dropped": self.dropped}


class CommandAlert(_QueuedSender):
    """Run ``command`` (a shell command line) with one event's JSON on stdin."""

    name = "on-event"

    def __init__(self, command: str, timeout_s: float = 30.0, max_queue: int = 100):
        self.command = command
        self.timeout_s = timeout_s
        super().__init__(max_queue)

    def _deliver(self, record: dict) -> bool:
        try:
            done = subprocess.run(
                self.command,
                shell=True,
                input=json.dumps(record) + "\n",
                text=True,
                timeout=self.timeout_s,
                capture_output=True,
                check=False,
            )
        except subprocess.TimeoutExpired:
            log.warning("--on-event: command did not finish in %.0f s", self.timeout_s)
            return False
        if done.returncode != 0:
            err = (done.stderr or "").strip().splitlines()
            log.warning(
                "--on-event: command exited with status %d%s",
                done.returncode,
                f" ({err[-1][:200]})" if err else "",
            )
            return False
        return True


class Webhook(_QueuedSender):
    """POST each event as JSON to ``url``; retry failures (connection errors, HTTP 5xx and 429)
    ``retries`` times, waiting ``backoff_s``, then twice that, up to ``max_backoff_s``."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        timeout_s: float = 10.0,
        max_queue: int = 1000,
    ):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url}: a webhook URL starts with http:// or https://")
        self.url = url
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.attempts = 0
        super().__init__(max_queue)

    def _deliver(self, record: dict) -> bool:
        body = json.dumps(record).encode()
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            if self._stop.is_set():
                return False
            self.attempts += 1
            request = urllib.request.Request(
                self.url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "vad-watch"},
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    response.read()
                return True
            except urllib.error.HTTPError as exc:
                if exc.code < 500 and exc.code != 429:  # the receiver refuses it: no retry
                    log.warning("--webhook: %s answered HTTP %d; not retried", self.url, exc.code)
                    return False
                why = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                why = str(getattr(exc, "reason", exc))
            if attempt < self.retries:
                log.info("--webhook: %s failed (%s); retry in %.1f s", self.url, why, delay)
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, self.max_backoff_s)
        log.warning("--webhook: %s failed %d times; event dropped", self.url, self.retries + 1)
        return False


ALERT_TYPES = ("event", "health")  # the records the command and the webhook receive


class AlertSink:
    """Fans records out: every record to the JSONL writer; alert records (``event`` and
    ``health``) also to the command and the webhook; ``listeners`` (callables) see every record
    (tests, embedding apps). Records may come from several threads."""

    def __init__(
        self,
        jsonl: str | None = None,
        on_event: str | None = None,
        webhook: str | None = None,
        webhook_retries: int = 5,
        webhook_backoff_s: float = 1.0,
    ):
        self.jsonl = JsonlWriter(jsonl)
        self.command = CommandAlert(on_event) if on_event else None
        self.webhook = (
            Webhook(webhook, retries=webhook_retries, backoff_s=webhook_backoff_s)
            if webhook
            else None
        )
        self.listeners: list = []

    def emit(self, record: dict) -> None:
        self.jsonl.write(record)
        if record.get("type") in ALERT_TYPES:
            for sender in (self.command, self.webhook):
                if sender is not None:
                    sender.send(record)
        for listener in list(self.listeners):
            listener(record)

    def stats(self) -> dict:
        out = {}
        if self.command is not None:
            out["on_event"] = self.command.stats()
        if self.webhook is not None:
            out["webhook"] = self.webhook.stats()
        return out

    def close(self, timeout_s: float = 10.0) -> None:
        for sender in (self.command, self.webhook):
            if sender is not None:
                sender.close(timeout_s)
        self.jsonl.close()

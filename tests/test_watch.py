"""``vad watch``: JSONL records, events that do not flap, alerts (a webhook received by a local
HTTP server, a command), several sources on one model, and a clean stop on SIGINT/SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from vad.cache import VideoEmbeddings
from vad.live.alerts import AlertSink, Webhook
from vad.live.watch import EventTracker, Watcher, WatchOptions
from vad.pipeline import Detector

WAIT_S = 120
REPO = Path(__file__).resolve().parent.parent


def write_levels(path: Path, levels: list[int], fps: int = 10, size: int = 32) -> Path:
    """A lossless video whose frame k is the constant grey level ``levels[k]``."""
    import av

    out = av.open(str(path), "w")
    stream = out.add_stream("rawvideo", rate=fps)
    stream.width = stream.height = size
    stream.pix_fmt = "rgb24"
    for k in levels:
        frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), k, np.uint8), format="rgb24")
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return path


CALM, FIGHTING = 10, 20
FIGHT = "two people exchanging punches"  # an anomalous description of the default bank


@pytest.fixture()
def scene_video(tmp_path, stand_in):
    """6 s of a still view, 6 s of people fighting, 10 s of the still view again (10 fps)."""
    # a shared normal of the default bank (with NOVA's class pools, "a person sitting" is
    # judged against each class's own normals, which the stand-in's word bags place nearer
    # to "a person hitting another person" than to it)
    stand_in.image_table[CALM] = stand_in.encode_text(["people walking along a corridor"])[0]
    stand_in.image_table[FIGHTING] = stand_in.encode_text([FIGHT])[0]
    levels = [CALM] * 60 + [FIGHTING] * 60 + [CALM] * 100
    return write_levels(tmp_path / "scene.avi", levels)


def stand_in_detector(stand_in, **kw) -> Detector:
    """Watch's mechanics, not the anchor: the anchor compares the frames of the buffer with each
    other (tests/test_heads.py), so with it the scores here would depend on how the frames were
    batched; and with NOVA's 21-entry class pools, an event filling the buffer becomes its own
    normal reference under the whole-buffer anchor (issue 16, item 2)."""
    kw.setdefault("smoothing", "none")
    kw.setdefault("anchor", False)
    return Detector(context="none", encoder=stand_in, use_cache=False, isolate_decoding=False, **kw)


def run_watch(detector, sources, **options):
    records: list[dict] = []
    sink = AlertSink()
    sink.listeners.append(records.append)
    summary = Watcher(detector, [str(s) for s in sources], sink, WatchOptions(**options)).run()
    sink.close()
    return records, summary


# -- events ---------------------------------------------------------------------------------


def test_an_event_opens_after_min_event_s_and_closes_after_the_cooldown():
    tracker = EventTracker("cam", threshold=0.5, min_event_s=1.0, cooldown_s=2.0)
    out = []
    scores = [0.1, 0.9, 0.9, 0.9, 0.2, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    for i, s in enumerate(scores):
        out += tracker.update(i * 0.5, s, [{"text": "x"}])
    assert [(r["state"], r["start_s"], r["end_s"]) for r in out] == [
        ("open", 0.5, None),  # above from 0.5 s, held for 1 s
        ("close", 0.5, 2.5),  # the dip at 2.0 s is shorter than the cooldown: one event
    ]
    assert out[0]["event_id"] == out[1]["event_id"] == "cam#1"
    assert out[1]["peak_score"] == 0.9


def test_an_event_keeps_the_explanation_of_its_peak():
    tracker = EventTracker("cam", threshold=0.5, min_event_s=0.0, cooldown_s=0.0)
    first = {"label": "a fight (0.31)", "explanation": {"driver": "semantic"}}
    peak = {
        "label": "unlike this camera's normal footage (novelty 0.90)",
        "nearest_descriptions": [{"text": "x"}],
        "explanation": {"driver": "novelty"},
    }  # noqa: E501
    opened = tracker.update(0.0, 0.6, [{"text": "a fight"}], explained=first)
    tracker.update(0.5, 0.9, [], explained=peak)
    tracker.update(1.0, 0.7, [{"text": "a fight"}], explained=first)  # not a new peak
    closed = tracker.update(1.5, 0.1, [])
    assert opened[0]["label"] == "a fight (0.31)" and "nearest_descriptions" not in opened[0]
    assert closed[0]["label"] == peak["label"] and closed[0]["descriptions"] == []
    assert closed[0]["nearest_descriptions"] == [{"text": "x"}]
    assert closed[0]["explanation"]["driver"] == "novelty"


def test_a_blip_shorter_than_min_event_s_is_no_event():
    tracker = EventTracker("cam", threshold=0.5, min_event_s=1.0, cooldown_s=0.0)
    out = []
    for i, s in enumerate([0.1, 0.9, 0.1, 0.9, 0.1, 0.9, 0.1]):
        out += tracker.update(i * 0.5, s, [])
    assert out == []


def test_watch_writes_samples_and_one_event_naming_what_fired(stand_in, scene_video):
    det = stand_in_detector(stand_in, event_threshold=0.5)
    records, summary = run_watch(det, [scene_video], sample_fps=2, min_event_s=1, cooldown_s=2)
    samples = [r for r in records if r["type"] == "sample"]
    events = [r for r in records if r["type"] == "event"]
    assert len(samples) == 44  # 22 s at 2 fps
    assert set(samples[0]) >= {"type", "source", "time_s", "wall_time", "score"}
    np.testing.assert_allclose([s["time_s"] for s in samples], np.arange(44) * 0.5)
    fighting = [s["score"] for s in samples if 6.0 <= s["time_s"] < 12.0]
    calm = [s["score"] for s in samples if s["time_s"] < 6.0]
    assert min(fighting) > 0.5 > max(calm)
    assert [e["state"] for e in events] == ["open", "close"]
    opened, closed = events
    assert opened["start_s"] == 6.0 and opened["end_s"] is None
    assert closed["end_s"] == 11.5 and closed["peak_score"] > 0.5
    assert opened["descriptions"][0]["text"] == FIGHT
    assert records[-1]["type"] == "summary" and records[-1]["samples"] == 44
    assert summary["latency_s"]["p50"] is not None
    assert summary["sources"][str(scene_video)]["dropped"] == 0


def test_sources_share_one_model_and_batches(stand_in, scene_video, tmp_path):
    calm = write_levels(tmp_path / "calm.avi", [CALM] * 100)
    batches = []
    encode = stand_in.encode_images

    def counting(pixels):
        batches.append(len(pixels))
        return encode(pixels)

    stand_in.encode_images = counting
    det = stand_in_detector(stand_in, batch_size=64)
    records, summary = run_watch(det, [scene_video, calm], sample_fps=2, min_event_s=1)
    per_source = summary["sources"]
    assert per_source[str(scene_video)]["samples"] == 44
    assert per_source[str(calm)]["samples"] == 20
    assert sum(batches) == 64
    events = [r for r in records if r["type"] == "event"]
    assert events and {e["source"] for e in events} == {str(scene_video)}


def test_an_event_still_open_at_the_end_is_closed(stand_in, tmp_path):
    stand_in.image_table[FIGHTING] = stand_in.encode_text([FIGHT])[0]
    video = write_levels(tmp_path / "fight.avi", [FIGHTING] * 40)
    records, _ = run_watch(stand_in_detector(stand_in), [video], sample_fps=2, min_event_s=0)
    events = [r for r in records if r["type"] == "event"]
    assert [e["state"] for e in events] == ["open", "close"]
    assert events[1]["reason"] == "stopped"


# -- alerts ---------------------------------------------------------------------------------


class Receiver:
    """A local HTTP server that answers 503 to the first ``fail`` POSTs, then 200."""

    def __init__(self, fail: int = 0):
        self.fail = fail
        self.posts: list[dict] = []
        self.attempts = 0
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.cond:
                    receiver.attempts += 1
                    ok = receiver.attempts > receiver.fail
                    if ok:
                        receiver.posts.append(json.loads(body))
                    receiver.cond.notify_all()
                self.send_response(200 if ok else 503)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, n: int) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.posts) >= n, timeout=WAIT_S)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_the_webhook_receives_each_event_after_retries():
    receiver = Receiver(fail=2)
    hook = Webhook(receiver.url, retries=3, backoff_s=0.01)
    try:
        hook.send({"type": "event", "state": "open", "event_id": "cam#1"})
        hook.send({"type": "event", "state": "close", "event_id": "cam#1"})
        assert receiver.wait(2)
    finally:
        hook.close(WAIT_S)
        receiver.close()
    assert [p["state"] for p in receiver.posts] == ["open", "close"]
    assert receiver.attempts == 4  # two failures retried, then both delivered
    assert hook.stats() == {"sent": 2, "failed": 0, "dropped": 0}


def test_a_dead_webhook_never_blocks_and_its_queue_is_bounded():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hook = Webhook(f"http://127.0.0.1:{port}/", retries=1000, backoff_s=60, max_queue=5)
    for i in range(50):  # returns at once although nothing is delivered
        hook.send({"type": "event", "n": i})
    assert hook._queue.qsize() <= 5
    assert hook.dropped >= 44
    hook.close(timeout_s=0.1)  # gives up on the rest rather than waiting out the retries


def test_watch_sends_events_to_the_webhook_and_the_command(stand_in, scene_video, tmp_path):
    receiver = Receiver()
    got = tmp_path / "events.txt"
    cmd = f"{sys.executable} -c \"import sys; open(r'{got}', 'a').write(sys.stdin.read())\""
    records: list[dict] = []
    sink = AlertSink(jsonl=str(tmp_path / "w.jsonl"), on_event=cmd, webhook=receiver.url)
    sink.listeners.append(records.append)
    try:
        options = WatchOptions(sample_fps=2, min_event_s=1, cooldown_s=2)
        Watcher(stand_in_detector(stand_in), [str(scene_video)], sink, options).run()
        sink.close(WAIT_S)
        assert receiver.wait(2)
    finally:
        receiver.close()
    assert [p["state"] for p in receiver.posts] == ["open", "close"]
    ran = [json.loads(line) for line in got.read_text().splitlines()]
    assert [r["state"] for r in ran] == ["open", "close"]
    written = [json.loads(line) for line in (tmp_path / "w.jsonl").read_text().splitlines()]
    assert written == records


# -- the command ----------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_vad_watch_stops_cleanly_on_a_signal(tiny_model, vtest, tmp_path, sig):
    out = tmp_path / "watch.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vad", "watch", str(vtest), "--realtime", "--loop"]
        + ["--model", tiny_model, "--pretrained", "none", "--jsonl", str(out)]
        + ["--sample-fps", "2", "--duration", "600"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stderr:  # the first status line says a source connected
            if "connected" in line:
                break
        # wait (bounded) for the first sample to be written, then signal
        for line in _follow(out, proc):
            if json.loads(line)["type"] == "sample":
                break
        proc.send_signal(sig)
        rest = proc.communicate(timeout=WAIT_S)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    lines = out.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line complete
    assert records[-1]["type"] == "summary"
    assert records[-1]["samples"] == sum(r["type"] == "sample" for r in records) >= 1
    assert "latency p50" in rest and "keeping up" in rest


def _follow(path: Path, proc, limit: int = 100_000):
    """Lines of ``path`` as they are written (bounded; gives up if ``proc`` exits)."""
    import time

    seen = 0
    for _ in range(limit):
        if path.exists():
            lines = path.read_text().splitlines(keepends=True)
            for line in lines[seen:]:
                if line.endswith("\n"):
                    seen += 1
                    yield line
        if proc.poll() is not None:
            return
        time.sleep(0.01)


def test_vad_watch_names_a_missing_source(tmp_path):
    from vad.cli import main

    assert main(["watch", str(tmp_path / "nope.mp4"), "--jsonl", str(tmp_path / "o")]) == 2


def test_vad_watch_fails_when_nothing_could_be_read(tmp_path, tiny_model, capsys):
    from vad.cli import main

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    args = ["watch", str(junk), "--jsonl", str(tmp_path / "o.jsonl")]
    assert main([*args, "--model", tiny_model, "--pretrained", "none"]) == 1
    err = capsys.readouterr().err
    assert f"{junk}: ended (cannot read" in err


def test_keeping_up_means_every_arrived_frame_was_scored(stand_in, scene_video):
    watcher = Watcher(stand_in_detector(stand_in), [str(scene_video)], AlertSink(), WatchOptions())
    src = watcher.sources[str(scene_video)]
    watcher.queue.received = {src.name: 100}
    src.samples = 99  # one sample in flight at the end: fine
    assert watcher.summary(50.0)["keeping_up"]
    src.samples = 60  # 40 frames waited in the queue until the end: the scorer fell behind
    summary = watcher.summary(50.0)
    assert not summary["keeping_up"] and summary["backlog"] == 40
    src.samples = 100
    watcher.lags.extend([5.0] * 10)  # the reader was 5 s behind its stream
    assert not watcher.summary(50.0)["keeping_up"]


def test_watch_reports_a_dropped_stream_and_goes_on_scoring(tiny_model):
    """A live MPEG-TS stream on 127.0.0.1, cut mid-way: the drop is a status record, the
    stream is reopened, and samples after the reconnect are scored; nothing raises."""
    from test_stream import StreamServer, make_ts

    det = Detector(model=tiny_model, pretrained="none", use_cache=False, isolate_decoding=False)
    stop = threading.Event()
    records: list[dict] = []

    def listen(record):
        records.append(record)
        # the cut first connection carries 2 s of the 4 s clip, at most 11 samples at 5 fps:
        # more samples than that were read after the reconnect
        if sum(r["type"] == "sample" for r in records) >= 16:
            stop.set()

    sink = AlertSink()
    sink.listeners.append(listen)
    with StreamServer(make_ts(), cut=1) as server:
        options = WatchOptions(sample_fps=5, backoff_s=(0.05, 0.2), duration_s=WAIT_S)
        summary = Watcher(det, [server.url], sink, options).run(stop)
    states = [(r["state"], r["attempt"]) for r in records if r["type"] == "status"]
    assert states[:3] == [("connected", 1), ("disconnected", 1), ("connected", 2)]
    assert records[-1]["type"] == "summary"
    assert summary["sources"][server.url]["reconnects"] >= 1
    times = [r["time_s"] for r in records if r["type"] == "sample"]
    assert len(times) >= 16 and times == sorted(times)  # stream time runs on across the drop
    assert times[-1] >= 2.0  # past the cut


def test_duration_stops_a_live_source(stand_in, scene_video):
    """A looping real-time source never ends by itself: --duration ends the run."""
    det = stand_in_detector(stand_in)
    records, summary = run_watch(
        det, [scene_video], sample_fps=2, realtime=True, loop=True, duration_s=1.0
    )
    assert summary["elapsed_s"] >= 1.0
    assert records[0]["type"] == "start" and records[-1]["type"] == "summary"
    assert not [r for r in records if r["type"] == "status" and r["state"] == "ended"]


def test_memory_is_bounded_by_the_context_window(stand_in, scene_video):
    """A source that never ends (a looping file): the per-source ring buffer holds only the
    context window, however many samples went through."""
    det = stand_in_detector(stand_in)
    stop = threading.Event()
    seen = []

    def listen(record):
        if record["type"] == "sample":
            seen.append(record["time_s"])
            if len(seen) >= 150:  # three and a half loops of the 22 s clip
                stop.set()

    sink = AlertSink()
    sink.listeners.append(listen)
    options = WatchOptions(sample_fps=2, context_window_s=5, loop=True, duration_s=WAIT_S)
    watcher = Watcher(det, [str(scene_video)], sink, options)
    watcher.run(stop)
    scorer = watcher.sources[str(scene_video)].scorer
    assert len(seen) >= 150 and scorer.samples >= 150
    assert scorer.capacity == 11  # 5 s at 2 fps, and the newest
    # fixed-size arrays: the window, plus one batch in flight
    kept = [a for a in vars(scorer).values() if isinstance(a, np.ndarray)]
    assert kept and all(len(a) <= scorer.capacity + det.batch_size for a in kept)
    assert seen == sorted(seen)  # stream time runs on across the loops


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--min-event-s", "-1", "--min-event-s must be a number >= 0, got -1.0"),
        ("--duration", "0", "--duration must be a number > 0, got 0.0"),
        ("--cooldown-s", "nan", "--cooldown-s must be a number >= 0, got nan"),
    ],
)
def test_vad_watch_rejects_bad_numbers(tmp_path, videos_dir, capsys, flag, value, message):
    from vad.cli import main

    args = ["watch", str(videos_dir / "Megamind.avi"), "--jsonl", str(tmp_path / "o"), flag, value]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before anything was opened


@pytest.mark.parametrize("scorer", ["incremental", "window"])
def test_novas_anchor_comes_from_the_streams_warmup_not_the_rolling_window(
    stand_in, scene_video, scorer
):
    """The window holds 5 s (11 samples); the anchor is built from the stream's first 32
    samples (16 s: sitting, then the fight, then sitting) weighted toward the least anomalous,
    and kept while the window moves on (the source's scorer keeps the warm-up)."""
    det = stand_in_detector(stand_in, anchor="nova")
    options = WatchOptions(context_window_s=5, scorer=scorer)
    watcher = Watcher(det, [str(scene_video)], AlertSink(), options)
    watcher.run()
    src = watcher.sources[str(scene_video)]
    warmup = src.scorer.warmup
    assert len(warmup.samples) == 32 and warmup.complete
    if scorer == "incremental":  # 44 samples (22 s) scored, in a window of 11
        assert src.scorer.samples == 44 and src.scorer.capacity == 11
    else:  # (a batch larger than the window leaves some samples unscored)
        assert len(src.scorer.embeddings) == 11
    first = VideoEmbeddings(np.stack(warmup.samples), np.arange(32), np.arange(32) / 2.0, 32, 2.0)
    np.testing.assert_allclose(warmup.anchor.vector, det.warmup_anchor(first).vector, rtol=1e-6)
    calm, fighting = stand_in.image_table[CALM], stand_in.image_table[FIGHTING]
    assert warmup.anchor.vector @ calm > 0.99 > warmup.anchor.vector @ fighting

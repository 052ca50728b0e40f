"""Camera health in ``vad watch`` (vad/live/health.py): offline, black, covered and frozen pictures,
reconnect loops - each a ``health`` record opened and closed, sent to the alert hooks like an
event. The rules are tested on explicit times; the watcher on sources the test serves on
127.0.0.1 or writes as files, waiting on records, never on the clock."""

from __future__ import annotations

import collections
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from test_stream import StreamServer, make_ts
from test_watch import WAIT_S, Receiver, stand_in_detector

from vad.live.alerts import AlertSink
from vad.live.health import HealthMonitor, HealthSettings, PictureStats, measure_picture
from vad.live.watch import Watcher, WatchOptions

GOOD = PictureStats(100.0, 50.0, 5.0)


def monitor(live=True, **settings):
    records: list[dict] = []
    mon = HealthMonitor({"cam": live}, records.append, HealthSettings(**settings), now=0.0)
    return mon, records


def states(records):
    return [(r["kind"], r["state"]) for r in records]


# -- the rules ------------------------------------------------------------------------------


def test_a_live_source_without_frames_goes_offline_and_back():
    mon, records = monitor(timeout_s=10)
    mon.status("cam", "disconnected", "ConnectionRefusedError: refused", now=1.0)
    mon.tick(now=9.9)
    assert records == []  # not yet 10 s
    mon.tick(now=10.0)
    assert states(records) == [("offline", "open")]
    assert "no frame for 10.0 s" in records[0]["message"]
    assert "refused" in records[0]["message"]  # why, when the reader said
    mon.tick(now=30.0)
    assert len(records) == 1  # opened once, not at every tick
    mon.frame("cam", 0.0, 1234.5, GOOD, now=31.0)
    assert states(records) == [("offline", "open"), ("offline", "close")]
    assert records[1]["until"] == 1234.5 and records[1]["health_id"] == records[0]["health_id"]
    mon.tick(now=40.0)  # 9 s after the frame
    assert len(records) == 2
    mon.tick(now=41.0)
    assert states(records)[-1] == ("offline", "open")
    assert records[-1]["health_id"] == "cam#offline2"


def test_a_file_never_goes_offline_and_an_ended_source_neither():
    mon, records = monitor(live=False, timeout_s=1)
    mon.tick(now=100.0)
    assert records == []
    mon, records = monitor(live=True, timeout_s=1)
    mon.status("cam", "ended", "end of stream", now=0.5)
    mon.tick(now=100.0)
    assert records == []


@pytest.mark.parametrize(
    "fault, stats",
    [
        ("black", PictureStats(5.0, 2.0, 0.0)),
        ("covered", PictureStats(120.0, 3.0, 0.0)),
        ("frozen", PictureStats(100.0, 50.0, 0.0)),
    ],
)
def test_a_picture_problem_opens_after_the_picture_timeout_and_closes_after_good_samples(
    fault, stats
):
    mon, records = monitor(picture_timeout_s=3.0)
    t = 0.0
    for _ in range(4):
        mon.frame("cam", t, 1000 + t, GOOD, now=t)
        t += 0.5
    for _ in range(7):  # 3.0 s from the first bad sample to the last
        mon.frame("cam", t, 1000 + t, stats, now=t)
        t += 0.5
    assert states(records) == [(fault, "open")]
    opened = records[0]
    assert opened["since"] == 1002.0 and opened["since_s"] == 2.0  # when it began
    mon.frame("cam", t, 1000 + t, GOOD, now=t)
    assert len(records) == 1  # one good sample is not enough
    mon.frame("cam", t + 0.5, 1000 + t + 0.5, GOOD, now=t + 0.5)
    assert states(records) == [(fault, "open"), (fault, "close")]
    assert records[1]["until"] == 1000 + t + 0.5


def test_a_black_picture_is_one_problem_not_also_frozen_and_a_flicker_restarts_the_clock():
    mon, records = monitor(picture_timeout_s=3.0)
    black = PictureStats(3.0, 1.0, 0.0)
    t = 0.0
    for k in range(20):
        # every 5th sample good: the black spells last 2 s, under the timeout
        mon.frame("cam", t, t, GOOD if k % 5 == 4 else black, now=t)
        t += 0.5
    assert records == []
    for _ in range(10):
        mon.frame("cam", t, t, black, now=t)
        t += 0.5
    assert states(records) == [("black", "open")]


def test_three_dropped_connections_in_a_minute_are_a_reconnect_loop():
    mon, records = monitor(timeout_s=1000)
    for k in range(3):
        mon.status("cam", "connected", now=10.0 * k)
        mon.frame("cam", k, k, GOOD, now=10.0 * k + 1)
        mon.status("cam", "disconnected", "end of stream", now=10.0 * k + 2)
    assert states(records) == [("reconnect_loop", "open")]
    assert records[0]["message"].startswith("3 dropped connections in 20.0 s")
    mon.status("cam", "disconnected", "refused", now=25.0)  # a failed attempt is no drop
    mon.tick(now=81.0)
    assert len(records) == 1  # 59 s since the last drop
    mon.tick(now=82.0)
    assert states(records) == [("reconnect_loop", "open"), ("reconnect_loop", "close")]


def test_drops_spread_over_more_than_the_period_are_no_loop():
    mon, records = monitor(timeout_s=1000)
    for k in range(6):
        mon.status("cam", "connected", now=31.0 * k)
        mon.status("cam", "disconnected", "end of stream", now=31.0 * k + 1)
    assert records == []


def test_close_all_closes_what_is_open_with_the_reason():
    mon, records = monitor(timeout_s=1)
    mon.tick(now=2.0)
    mon.close_all("stopped")
    assert states(records) == [("offline", "open"), ("offline", "close")]
    assert records[1]["reason"] == "stopped"
    assert mon.counts("cam") == {"offline": 1} and mon.open_kinds("cam") == []


def test_picture_statistics_see_noise_as_change_and_a_repeat_as_none():
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    noise = np.clip(scene + rng.normal(0, 2.0, scene.shape), 0, 255).astype(np.uint8)
    stats, luma = measure_picture(scene)
    assert stats.std > 30
    assert measure_picture(noise, luma)[0].change > HealthSettings().frozen_change
    assert measure_picture(scene, luma)[0].change == 0.0


# -- in the watcher -------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _any_frame_is(stand_in, text="a person sitting"):
    """Every picture encodes to ``text`` (the pictures here are noise, black, grey)."""
    vector = stand_in.encode_text([text])[0]
    stand_in.image_table = collections.defaultdict(lambda: vector)
    return stand_in


def _watch(detector, sources, until, **options):
    """Run a watcher until ``until(records)`` holds (checked on every record) or WAIT_S."""
    records: list[dict] = []
    stop = threading.Event()
    sink = AlertSink()

    def listen(record):
        records.append(record)
        if until(records):
            stop.set()

    sink.listeners.append(listen)
    options.setdefault("duration_s", WAIT_S)
    watcher = Watcher(detector, [str(s) for s in sources], sink, WatchOptions(**options))
    summary = watcher.run(stop)
    sink.close()
    return records, summary


def health_records(records, kind=None):
    return [r for r in records if r["type"] == "health" and kind in (None, r["kind"])]


def test_an_unreachable_camera_is_an_alert_and_nothing_scored_is_not_keeping_up(stand_in, tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/live.ts"
    receiver = Receiver()
    got = tmp_path / "alerts.txt"
    records: list[dict] = []
    stop = threading.Event()
    sink = AlertSink(
        on_event=f"cat >> {got}", webhook=receiver.url, webhook_retries=0, webhook_backoff_s=0
    )

    def listen(record):
        records.append(record)
        if record["type"] == "health":
            stop.set()

    sink.listeners.append(listen)
    options = WatchOptions(health_timeout_s=0.2, backoff_s=(0.02, 0.05), duration_s=WAIT_S)
    try:
        summary = Watcher(stand_in_detector(stand_in), [url], sink, options).run(stop)
        sink.close(WAIT_S)
        assert receiver.wait(2)
    finally:
        receiver.close()
    opened, closed = health_records(records)
    assert (opened["kind"], opened["state"], opened["source"]) == ("offline", "open", url)
    assert opened["message"].startswith("no frame for 0.")  # and why, once the reader knows
    assert closed["state"] == "close" and closed["reason"] == "stopped"
    assert {"since", "wall_time", "health_id"} <= set(opened)
    assert [(p["type"], p["state"]) for p in receiver.posts] == [("health", "open")] + [
        ("health", "close")
    ]
    ran = [json.loads(line) for line in got.read_text().splitlines()]
    assert [r["kind"] for r in ran] == ["offline", "offline"]
    assert summary["samples"] == 0 and not summary["keeping_up"]
    assert summary["sources"][url]["health"] == {"offline": 1}


def _mjpeg_server(stalled: threading.Event, resume: threading.Event, hold: threading.Event):
    """An MJPEG camera on 127.0.0.1 that sends 10 noise frames, then nothing until ``resume``
    is set, then 200 more, then keeps the connection open until ``hold`` is set."""
    from PIL import Image

    rng = np.random.default_rng(1)
    jpegs = []
    for _ in range(20):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
        jpegs.append(buf.getvalue())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()

            def send(n):
                for k in range(n):
                    jpg = jpegs[k % len(jpegs)]
                    head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}"
                    self.wfile.write(head.encode() + b"\r\n\r\n" + jpg + b"\r\n")
                self.wfile.flush()

            try:
                send(10)
                stalled.set()
                if resume.wait(WAIT_S):
                    send(200)
                    hold.wait(WAIT_S)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/video.mjpg"


def test_a_camera_that_stops_sending_is_offline_until_frames_come_again(stand_in):
    stalled, resume, hold = threading.Event(), threading.Event(), threading.Event()
    httpd, url = _mjpeg_server(stalled, resume, hold)

    def until(records):
        offline = health_records(records, "offline")
        if offline and offline[-1]["state"] == "open" and stalled.is_set():
            resume.set()  # the camera comes back once the watcher has said it is gone
        return resume.is_set() and offline and offline[-1]["state"] == "close"

    try:
        records, summary = _watch(
            stand_in_detector(_any_frame_is(stand_in)),
            [url],
            until,
            sample_fps=5,
            health_timeout_s=1.0,
            timeout_s=WAIT_S,  # the reader keeps the stalled connection open
        )
    finally:
        resume.set()
        hold.set()
        httpd.shutdown()
        httpd.server_close()
    offline = health_records(records, "offline")
    assert [r["state"] for r in offline[-2:]] == ["open", "close"]
    assert offline[-1]["message"] == "offline over: frames again"
    assert offline[-1]["until"] >= offline[-1]["since"]
    assert summary["samples"] > 0
    assert not [r for r in records if r["type"] == "status" and r["state"] == "disconnected"]


def write_pictures(path, pictures, fps=2):
    """A lossless 64x48 video of the given RGB pictures."""
    import av

    out = av.open(str(path), "w")
    stream = out.add_stream("rawvideo", rate=fps)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "rgb24"
    for picture in pictures:
        for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return path


def test_black_frozen_and_covered_pictures_of_a_file_open_and_close(stand_in, tmp_path):
    rng = np.random.default_rng(2)

    def noise(n):
        return [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(n)]

    still = noise(1)[0]
    pictures = (
        noise(8)  # 0-4 s
        + [np.full((48, 64, 3), 4, np.uint8)] * 12  # 4-10 s black
        + noise(8)  # 10-14 s
        + [still] * 12  # 14-20 s frozen (from the second repeat, 14.5 s)
        + [np.full((48, 64, 3), 150, np.uint8)] * 12  # 20-26 s uniform grey: covered
        + noise(8)  # 26-30 s
    )
    video = write_pictures(tmp_path / "faults.avi", pictures)
    records, summary = _watch(
        stand_in_detector(_any_frame_is(stand_in)),
        [video],
        lambda records: False,
        sample_fps=2,
        picture_timeout_s=3.0,
    )
    health = health_records(records)
    assert states(health) == [
        ("black", "open"),
        ("black", "close"),
        ("frozen", "open"),
        ("frozen", "close"),
        ("covered", "open"),
        ("covered", "close"),
    ]
    assert [r.get("since_s") for r in health if r["state"] == "open"] == [4.0, 14.5, 20.0]
    assert health[3]["message"] == "frozen over: picture now covered"
    assert not health_records(records, "offline")  # a file does not go offline
    assert summary["samples"] == 60
    assert summary["sources"][str(video)]["health"] == {"black": 1, "frozen": 1, "covered": 1}


def test_a_stream_that_keeps_dropping_is_a_reconnect_loop(stand_in):
    def until(records):
        return bool(health_records(records, "reconnect_loop"))

    with StreamServer(make_ts(), cut=1000) as server:  # every connection ends half way
        records, summary = _watch(
            stand_in_detector(_any_frame_is(stand_in)),
            [server.url],
            until,
            sample_fps=5,
            backoff_s=(0.01, 0.02),
        )
    loop = health_records(records, "reconnect_loop")
    assert states(loop) == [("reconnect_loop", "open"), ("reconnect_loop", "close")]
    assert loop[0]["message"].startswith("3 dropped connections in ")
    assert loop[1]["reason"] == "stopped"
    drops = [r for r in records if r["type"] == "status" and r["state"] == "disconnected"]
    assert len(drops) >= 3 and summary["samples"] > 0


def test_vad_watch_says_a_dead_camera_is_offline_and_not_keeping_up(tiny_model, tmp_path):
    from conftest import run_vad

    out = tmp_path / "w.jsonl"
    url = f"rtsp://127.0.0.1:{_free_port()}/stream"
    args = ["watch", url, "--jsonl", str(out), "--model", tiny_model, "--pretrained", "none"]
    code, _, err = run_vad([*args, "--duration", "1", "--health-timeout", "0.3"])
    assert code == 1
    assert "NOT keeping up" in err and f"{url}: 0 samples, offline" in err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert states(health_records(records)) == [("offline", "open"), ("offline", "close")]


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--health-timeout", "--health-timeout must be a number > 0, got 0.0"),
        ("--picture-timeout", "--picture-timeout must be a number > 0, got 0.0"),
    ],
)
def test_vad_watch_rejects_bad_health_timeouts(tmp_path, flag, message, capsys):
    from conftest import run_vad

    video = tmp_path / "v.avi"
    video.write_bytes(b"x")
    code, _, err = run_vad(["watch", str(video), "--jsonl", str(tmp_path / "o"), flag, "0"])
    assert code == 2 and message in err

"""Live sources (vad/live/stream.py): an MPEG-TS stream served over HTTP on 127.0.0.1 by the test
itself, cut mid-way; the reader must report the drop, reconnect with backoff and go on."""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from vad.live.stream import FrameQueue, SourceError, StreamReader, parse_source

WAIT_S = 120  # generous upper bound on any wait; tests end as soon as the condition holds


def make_ts(frames: int = 40, fps: int = 10) -> bytes:
    """An MPEG-TS clip (mpeg2video, 64x48) whose frame k has grey level 5 * (k % 40)."""
    import av

    buf = io.BytesIO()
    out = av.open(buf, "w", format="mpegts")
    stream = out.add_stream("mpeg2video", rate=fps)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    for k in range(frames):
        img = np.full((48, 64, 3), 5 * (k % 40), np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return buf.getvalue()


class StreamServer:
    """Serves ``data`` as video/mp2t; the first ``cut`` connections end after half of it."""

    def __init__(self, data: bytes, cut: int = 1):
        self.data = data
        self.cut = cut
        self.connections = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.end_headers()
                data = server.data
                if server.connections <= server.cut:
                    data = data[: (len(data) // 2) // 188 * 188]  # whole TS packets, then EOF
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/live.ts"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_sources_are_classified_and_a_missing_file_is_named(tmp_path):
    assert parse_source("rtsp://cam.local/stream").kind == "network"
    assert parse_source("rtsp://cam.local/stream").options["rtsp_transport"] == "tcp"
    assert parse_source("http://127.0.0.1:8080/video.mjpg").live
    assert parse_source("udp://0.0.0.0:1234").kind == "network"
    cam = parse_source("0")
    assert (cam.kind, cam.url, cam.format) == ("webcam", "/dev/video0", "v4l2")
    missing = tmp_path / "nope.mp4"
    with pytest.raises(SourceError, match="nope.mp4: no such file"):
        parse_source(str(missing))
    with pytest.raises(SourceError, match="unsupported scheme"):
        parse_source("gopher://x")


def _reader(source: str, sample_fps: float, **kw):
    frames = FrameQueue(1000)
    stop = threading.Event()
    statuses = []
    changed = threading.Condition()

    def on_status(s):
        with changed:
            statuses.append(s)
            changed.notify_all()

    reader = StreamReader(parse_source(source), sample_fps, frames, stop, on_status, **kw)
    return reader, frames, stop, statuses, changed


def _wait_for(changed, predicate) -> bool:
    with changed:
        return changed.wait_for(predicate, timeout=WAIT_S)


def test_a_cut_stream_is_reported_and_reopened():
    data = make_ts()
    with StreamServer(data, cut=1) as server:
        reader, frames, stop, statuses, changed = _reader(
            server.url, sample_fps=5, backoff_s=(0.05, 0.2)
        )
        reader.start()
        try:
            # connected, dropped (the cut), connected again, dropped again (end of the clip)
            ok = _wait_for(changed, lambda: sum(s.state == "connected" for s in statuses) >= 2)
            assert ok, [s.record() for s in statuses]
            _wait_for(changed, lambda: sum(s.state == "disconnected" for s in statuses) >= 2)
        finally:
            stop.set()
            reader.join(WAIT_S)
    assert not reader.is_alive()
    states = [s.state for s in statuses]
    assert states[:3] == ["connected", "disconnected", "connected"]
    dropped = statuses[1]
    assert dropped.retry_in_s == pytest.approx(0.05) and dropped.message
    assert reader.reconnects >= 1 and server.connections >= 2
    items = frames.get_batch(1000, 0)
    times = [f.time_s for f in items]
    assert times == sorted(times), "stream time runs on across the reconnect"
    # frames from both connections arrived: the cut half, then the whole clip again (4 s at 5 fps)
    assert len(items) >= 20 + 5
    assert all(f.source == server.url for f in items)


def test_an_unreachable_source_backs_off_and_never_raises():
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reader, frames, stop, statuses, changed = _reader(
        f"http://127.0.0.1:{port}/x.ts", sample_fps=2, backoff_s=(0.01, 0.04), timeout_s=5
    )
    reader.start()
    try:
        assert _wait_for(changed, lambda: len(statuses) >= 4)
    finally:
        stop.set()
        reader.join(WAIT_S)
    assert not reader.is_alive()
    delays = [s.retry_in_s for s in statuses[:4]]
    assert all(s.state == "disconnected" for s in statuses[:4])
    assert delays == [0.01, 0.02, 0.04, 0.04]  # doubling, capped
    assert len(frames) == 0


def test_a_file_is_sampled_by_timestamp_and_ends(tmp_path: Path):
    path = tmp_path / "clip.ts"
    path.write_bytes(make_ts(frames=40, fps=10))  # 4 s
    reader, frames, stop, statuses, changed = _reader(str(path), sample_fps=2)
    reader.start()
    reader.join(WAIT_S)
    assert not reader.is_alive()
    assert [s.state for s in statuses] == ["connected", "ended"]
    items = frames.get_batch(100, 0)
    np.testing.assert_allclose([f.time_s for f in items], np.arange(8) * 0.5, atol=1e-6)
    # the sampled frames are the frames at those times (grey level 5 * frame index)
    levels = [int(np.median(f.pixels[0])) for f in items]
    assert levels == pytest.approx([5 * 5 * i for i in range(8)], abs=3)


def test_a_full_queue_drops_the_oldest_live_frame_but_never_blocks():
    from vad.live.stream import SampledFrame

    q = FrameQueue(2)
    stop = threading.Event()
    for i in range(5):
        assert q.put(SampledFrame("cam", i, i, 0.0, None), block=False, stop=stop)
    assert [f.index for f in q.get_batch(10, 0)] == [3, 4]
    assert q.dropped == {"cam": 3}


def test_an_mjpeg_camera_over_http_is_read():
    """A typical IP camera: multipart JPEG frames over HTTP, no timestamps."""
    from PIL import Image

    jpegs = []
    for level in (40, 200):
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (level,) * 3).save(buf, "JPEG")
        jpegs.append(buf.getvalue())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            for jpg in jpegs * 10:
                head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}\r\n\r\n"
                self.wfile.write(head.encode() + jpg + b"\r\n")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/video.mjpg"
    reader, frames, stop, statuses, changed = _reader(url, sample_fps=2, backoff_s=(5, 5))
    reader.start()
    try:
        assert _wait_for(changed, lambda: any(s.state == "disconnected" for s in statuses))
    finally:
        stop.set()
        reader.join(WAIT_S)
        httpd.shutdown()
        httpd.server_close()
    assert statuses[0].state == "connected"
    items = frames.get_batch(100, 0)
    assert items and int(np.median(items[0].pixels)) == pytest.approx(40, abs=4)

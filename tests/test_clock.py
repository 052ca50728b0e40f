"""Clock time: a video's wall-clock start comes from --start-time, else its container (creation
time, timecode); every output then shows the wall-clock time beside the seconds; `vad watch`
stamps samples and events with their arrival time."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from vad.clock import ClockStart, container_clock
from vad.outputs.results import result_csv
from vad.pipeline import Detector

CALM, FIGHTING = 10, 20
FIGHT = "two people exchanging punches"


def write_levels(path, levels, fps=10, container_tags=None, stream_tags=None):
    """A lossless video whose frame k is the grey level ``levels[k]``, with metadata tags."""
    import av

    with av.open(str(path), "w") as out:
        out.metadata.update(container_tags or {})
        stream = out.add_stream("rawvideo", rate=fps)
        stream.width = stream.height = 32
        stream.pix_fmt = "rgb24"
        stream.metadata.update(stream_tags or {})
        for k in levels:
            image = np.full((32, 32, 3), k, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture()
def detector(stand_in):
    stand_in.image_table[CALM] = stand_in.encode_text(["a person sitting on a bench"])[0]
    stand_in.image_table[FIGHTING] = stand_in.encode_text([FIGHT])[0]

    def make(**kw) -> Detector:
        return Detector(encoder=stand_in, use_cache=False, isolate_decoding=False, **kw)

    return make


LEVELS = [CALM] * 40 + [FIGHTING] * 40 + [CALM] * 40  # 12 s at 10 fps, a fight from 4 s to 8 s


def test_the_creation_time_gives_json_events_and_csv_a_clock(tmp_path, detector):
    tags = {"creation_time": "2026-12-02T10:00:00.000000Z"}
    video = write_levels(tmp_path / "cam.mov", LEVELS, container_tags=tags)
    result = detector(context="none", anchor="none").score(video)
    start = datetime(2026, 12, 2, 10, tzinfo=timezone.utc)
    assert result["clock"] == {"start": start.isoformat(timespec="microseconds"),
                               "source": "creation_time"}  # fmt: skip
    (event,) = result["events"]
    for key in ("start", "peak", "end"):
        when = datetime.fromisoformat(event[f"{key}_clock"])
        assert when.utcoffset() == timedelta(0)  # timezone-aware
        assert when == start + timedelta(seconds=event[f"{key}_s"])
    rows = list(csv.DictReader(io.StringIO(result_csv(result))))
    assert len(rows) == len(LEVELS)
    for row in rows[::17]:
        clock = datetime.fromisoformat(row["clock"])
        assert clock == start + timedelta(seconds=float(row["time_s"]))


def test_a_timecode_gives_a_time_of_day(tmp_path, detector):
    video = write_levels(tmp_path / "tc.mov", LEVELS, stream_tags={"timecode": "21:14:05:05"})
    result = detector(context="none", anchor="none").score(video)
    assert result["clock"] == {"start": "21:14:05.500000", "source": "timecode"}
    (event,) = result["events"]
    assert event["start_clock"] == (datetime(1900, 1, 1, 21, 14, 5, 500000)
                                    + timedelta(seconds=event["start_s"])).time().isoformat(
                                        timespec="microseconds")  # fmt: skip


def test_start_time_wins_and_a_video_that_says_nothing_has_no_clock(tmp_path, detector):
    tagged = write_levels(tmp_path / "cam.mov", LEVELS,
                          container_tags={"creation_time": "2026-12-02T10:00:00Z"})  # fmt: skip
    plain = write_levels(tmp_path / "plain.avi", LEVELS)
    given = detector(context="none", start_time="2026-12-03T08:30:00+01:00").score(tagged)
    assert given["clock"] == {"start": "2026-12-03T08:30:00.000000+01:00", "source": "start-time"}
    assert given["events"][0]["start_clock"].startswith("2026-12-03T08:30:0")
    bare = detector(context="none").score(plain)
    assert "clock" not in bare and "start_clock" not in bare["events"][0]
    assert "clock" not in next(csv.reader(io.StringIO(result_csv(bare))))
    # without a zone, --start-time is this machine's local time: the result says which
    local = ClockStart.parse("2026-12-03T08:30:00")
    assert local.start.utcoffset() is not None


def test_unset_creation_times_and_streams_are_no_clock(tmp_path):
    zero = write_levels(tmp_path / "zero.mov", [CALM] * 5,
                        container_tags={"creation_time": "1970-01-01T00:00:00Z"})  # fmt: skip
    assert container_clock(zero) is None
    assert container_clock("rtsp://camera.invalid/stream") is None


def test_start_time_on_the_command_line(tmp_path, vtest):
    from conftest import run_vad

    out = str(tmp_path / "o")
    rc, _, err = run_vad(["score", str(vtest), "--out", out, "--start-time", "yesterday"])
    assert rc == 2 and err.startswith("vad: error: --start-time: not an ISO-8601 date and time")
    rc, _, err = run_vad(["score", str(vtest), str(vtest.parent / "Megamind.avi"), "--out", out,
                          "--start-time", "2026-12-02T10:00:00Z"])  # fmt: skip
    assert rc == 2 and "--start-time: gives one video's start, but 2 inputs" in err
    assert len(err.strip().splitlines()) == 1


def test_watch_stamps_samples_and_events_with_their_arrival(tmp_path, detector):
    from vad.live.alerts import AlertSink
    from vad.live.watch import Watcher, WatchOptions

    video = write_levels(tmp_path / "cam.avi", LEVELS)
    records: list[dict] = []
    sink = AlertSink()
    sink.listeners.append(records.append)
    det = detector(context="none", smoothing="none")
    Watcher(det, [str(video)], sink, WatchOptions(sample_fps=2.0)).run()
    sink.close()
    samples = [r for r in records if r["type"] == "sample"]
    assert samples
    for r in samples:
        clock = datetime.fromisoformat(r["clock"])
        assert clock.utcoffset() == timedelta(0)
        assert clock.timestamp() == pytest.approx(r["wall_time"], abs=1e-5)
    events = [r for r in records if r["type"] == "event"]
    assert [e["state"] for e in events] == ["open", "close"]
    for e in events:
        assert datetime.fromisoformat(e["start_clock"]) <= datetime.fromisoformat(e["peak_clock"])
    assert datetime.fromisoformat(events[1]["end_clock"]).utcoffset() == timedelta(0)
    json.dumps(records)  # every record stays plain JSON

"""Results to look at: ``--plot``, ``--overlay`` (same frame count and rate as the input) and
``--html``, whose page is loaded in a real headless browser (Debian's chromium)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vad.outputs.overlay import write_overlay
from vad.outputs.page import write_index
from vad.outputs.plot import plot_result

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed (CI installs it: apt-get install chromium)")
    pytest.skip("chromium not found: apt-get install chromium to check the HTML page")


def count_frames(path: Path) -> tuple[int, float]:
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return sum(1 for _ in c.decode(s)), float(s.average_rate)


def fake_result(video: Path, num_frames: int, fps: float, events: list[tuple], peak: float):
    """A result in the ``vad score`` schema: score ``peak`` inside each (start_s, end_s, text)
    event, 0.1 elsewhere."""
    scores = np.full(num_frames, 0.1)
    out = []
    for start_s, end_s, text in events:
        a, b = int(start_s * fps), int(end_s * fps) - 1
        scores[a : b + 1] = peak
        out.append(
            {
                "start_frame": a,
                "end_frame": b,
                "start_s": start_s,
                "end_s": end_s,
                "peak_s": start_s,
                "peak_score": peak,
                "descriptions": [{"text": text, "similarity": 0.3}],
            }
        )
    return {
        "video": str(video),
        "fps": fps,
        "num_frames": num_frames,
        "context": {"mode": "auto", "scene": "parking lot", "probability": 0.8},
        "scores": scores.tolist(),
        "events": out,
    }


def test_plot_writes_a_figure(tmp_path, vtest):
    from PIL import Image

    result = fake_result(vtest, 795, 10.0, [(20.0, 30.0, "a car on fire")], 0.9)
    path = plot_result(result, tmp_path / "vtest.png")
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (1000, 320)
        assert np.asarray(img.convert("L")).std() > 5  # something was drawn


def test_overlay_keeps_frame_count_and_rate_and_draws_the_score(tmp_path, videos_dir):
    import av

    video = videos_dir / "Megamind.avi"
    n, rate = count_frames(video)
    result = fake_result(video, n, rate, [(2.0, 4.0, "a person fighting")], 1.0)
    out = write_overlay(video, result, tmp_path / "Megamind.overlay.mp4")
    assert count_frames(out) == (n, rate)
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    hot, calm = frames[int(3 * rate)], frames[int(0.5 * rate)]
    bar = slice(hot.shape[0] - 4, hot.shape[0])
    # score 1 above the threshold: a full red bar; score 0.1: red only in the first tenth
    assert hot[bar, : hot.shape[1] // 2, 0].mean() > 150
    assert hot[bar, : hot.shape[1] // 2, 2].mean() < 120
    assert calm[bar, calm.shape[1] // 2 :, 0].mean() < 100


def test_vad_score_writes_plot_overlay_and_html(tmp_path, videos_dir, tiny_model):
    from vad.cli import main

    video = videos_dir / "Megamind.avi"
    out = tmp_path / "out"
    args = ["score", str(video), "--out", str(out), "--model", tiny_model, "--pretrained", "none"]
    args += ["--sample-fps", "1", "--no-cache", "--plot", "--overlay", "--html"]
    assert main(args) == 0
    assert (out / "Megamind.png").stat().st_size > 0
    assert count_frames(out / "Megamind.overlay.mp4") == count_frames(video)
    page = (out / "index.html").read_text()
    assert page.count('<details class="video"') == 1 and "Megamind.avi" in page
    # --resume with nothing left to score still makes the page from the results written
    (out / "index.html").unlink()
    assert main([*args, "--resume"]) == 0
    assert "Megamind.avi" in (out / "index.html").read_text()


def what_was_used(result: dict, random_weights: bool = False) -> dict:
    """``result`` with what ``vad score`` records about the run: model, recipe, threshold,
    calibration, clock (and the random-weights warning)."""
    result.update(
        model="ViT-B-16",
        pretrained="openai",
        prompts="default",
        sample_fps=2.0,
        smoothing={"method": "gaussian", "window_s": 2.0},
        scoring={"head": "margin", "anchor": True, "refine": "knn"},
        event_threshold=0.5,
        calibration={"file": "lobby.json", "threshold": 0.62, "false_alarms_per_hour": 2.0,
                     "calibration_hours": 1.5},
        clock={"start": "2026-12-02T21:14:05.000000+01:00", "source": "creation_time"},
        warnings=["random model weights: scores are meaningless"] if random_weights else [],
    )  # fmt: skip
    return result


def test_the_review_page_says_what_it_used(tmp_path, videos_dir):
    result = fake_result(videos_dir / "Megamind.avi", 270, 24.0, [(6.0, 8.0, "a fight")], 0.8)
    what_was_used(result)
    result["events"][0]["descriptions"].append({"text": "a brawl", "similarity": 0.2512})
    (tmp_path / "Megamind.overlay.mp4").write_bytes(b"")  # --overlay wrote it
    entries = [{"video": Path(result["video"]), "stem": "Megamind", "result": result}]
    text = write_index(tmp_path, entries).read_text()
    # what it used: threshold, calibration (file, target rate), model and recipe
    assert "0.62 (calibrated)" in text and "lobby.json" in text
    assert "at most 2 false alarms per hour" in text
    assert "ViT-B-16 (openai)" in text and "head margin, anchor, refine knn" in text
    assert "weights are random" not in text  # no banner for real weights
    # a time axis under the timeline, in seconds and in wall-clock time
    svg = text[text.index("<svg") : text.index("</svg>")]
    assert ">0 s</text>" in svg and ">10 s</text>" in svg and ">21:14:15</text>" in svg
    # the thumbnail captioned with its time; descriptions with their similarities
    assert "#1 · 6 s · 21:14:11</figcaption>" in text
    assert "a fight (0.30); a brawl (0.25)" in text
    # links to the overlay and the source at the event's start
    assert 'href="Megamind.overlay.mp4#t=6.0"' in text
    source = Path(os.path.relpath(videos_dir / "Megamind.avi", tmp_path)).as_posix()
    assert f'href="{source}#t=6.0"' in text
    assert "1 event<" in text and "1 video," in text  # one, not "1 events"


def test_the_review_page_in_a_headless_browser(tmp_path, videos_dir, chromium):
    calm = fake_result(videos_dir / "vtest.avi", 795, 10.0, [], 0.1)
    busy = fake_result(
        videos_dir / "Megamind.avi",
        270,
        24.0,
        [(1.0, 2.0, "a person fighting"), (6.0, 8.0, "a <b>bold</b> & strange act")],
        0.8,
    )
    what_was_used(busy, random_weights=True)
    entries = [{"video": Path(r["video"]), "result": r} for r in (calm, busy)]
    page = write_index(tmp_path, entries, title="review")
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # self-contained
    assert text.count('<img src="data:image/jpeg;base64,') == 2  # one keyframe per event

    profile = tmp_path / "profile"
    base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run(
        [*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180
    ).stdout
    # the random-weights banner and what the run used come before the videos
    head = dom.split('<details class="video"')[0]
    assert "weights are random" in head and "scores below are meaningless" in head
    assert "threshold" in head and "calibration" in head and "recipe" in head
    rows = dom.split('<details class="video"')[1:]
    assert len(rows) == 2
    assert "Megamind.avi" in rows[0] and "vtest.avi" in rows[1]  # sorted by peak score
    assert "a person fighting" in rows[0] and "&lt;b&gt;bold&lt;/b&gt;" in rows[0]
    assert "<b>bold</b>" not in dom  # data is escaped, not markup
    assert rows[0].lstrip().startswith("open")  # the top row is shown opened

    shot = tmp_path / "shot.png"
    subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1000,700", page.as_uri()],
        capture_output=True,
        timeout=180,
        check=False,
    )
    from PIL import Image

    assert shot.is_file(), "chromium wrote no screenshot"
    with Image.open(shot) as img:
        pixels = np.asarray(img.convert("RGB")).astype(float)
    assert pixels.std() > 10  # not blank: text, thumbnails and timelines were rendered
    # the event shading of the timeline and the banner (reddish pixels) are on screen
    assert ((pixels[..., 0] - pixels[..., 2]) > 30).sum() > 100
    top = pixels[: pixels.shape[0] // 4]  # the banner is near the top of the page
    assert (((top[..., 0] - top[..., 2]) > 10) & (top[..., 0] > 200)).sum() > 1000


def test_index_rows_sorted_by_peak_and_events_listed(tmp_path, videos_dir):
    low = fake_result(videos_dir / "vtest.avi", 100, 10.0, [(1.0, 2.0, "low thing")], 0.6)
    high = fake_result(videos_dir / "vtest.avi", 100, 10.0, [(3.0, 4.0, "high thing")], 0.95)
    high["video"] = "other.avi"  # no such file: no thumbnail, but the row is there
    entries = [{"video": Path(r["video"]), "result": r} for r in (low, high)]
    text = write_index(tmp_path, entries).read_text()
    assert text.index("high thing") < text.index("low thing")
    assert "3.0-4.0 s" in text

"""`vad search`: the moment that shows what the query says ranks first, whether the query is a
text or an image; footage is read from the embedding cache (encoded first when missing, never
hashed again once known); the command line prints, writes JSON and a page with thumbnails."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_vad

from vad.media.frames import VideoError
from vad.pipeline import Detector
from vad.scoring.search import find_moments

CALM, CLIMB, CAR = 10, 30, 50
QUERY = "a person climbing a fence"


def write_levels(path, levels, fps=10, tags=None):
    """A lossless video whose frame k is the grey level ``levels[k]``."""
    import av

    with av.open(str(path), "w") as out:
        out.metadata.update(tags or {})
        stream = out.add_stream("rawvideo", rate=fps)
        stream.width = stream.height = 32
        stream.pix_fmt = "rgb24"
        for k in levels:
            image = np.full((32, 32, 3), k, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture()
def footage(tmp_path, stand_in):
    """Two cameras: the yard shows someone climbing over a fence from 4 s to 6 s; the street
    shows a car passing. The stand-in encodes each grey level as a text's embedding."""
    stand_in.image_table[CALM] = stand_in.encode_text(["an empty yard at night"])[0]
    stand_in.image_table[CLIMB] = stand_in.encode_text(["a man climbing over the fence"])[0]
    stand_in.image_table[CAR] = stand_in.encode_text(["a red car driving past"])[0]
    stand_in.cacheable = True  # as a real model: its frame embeddings are cached
    yard = write_levels(tmp_path / "yard.mov", [CALM] * 40 + [CLIMB] * 20 + [CALM] * 40,
                        tags={"creation_time": "2026-12-02T03:00:00Z"})  # fmt: skip
    street = write_levels(tmp_path / "street.avi", [CALM] * 30 + [CAR] * 30 + [CALM] * 30)
    return yard, street


def detector(stand_in, tmp_path) -> Detector:
    return Detector(encoder=stand_in, cache_dir=tmp_path / "cache", isolate_decoding=False)


def test_the_moment_the_text_describes_ranks_first(stand_in, footage, tmp_path):
    yard, street = footage
    found = detector(stand_in, tmp_path).search(QUERY, [street, yard], top=3)
    best = found["moments"][0]
    assert best["video"] == str(yard) and best["rank"] == 1
    assert 3.9 <= best["start_s"] <= 4.0 and 5.9 <= best["end_s"] <= 6.6  # hits merged
    assert best["hits"] >= 4 and 4.0 <= best["peak_s"] < 6.0
    assert best["similarity"] > max(m["similarity"] for m in found["moments"][1:])
    # the yard's container says when it was recorded: the moment has a clock time
    assert best["start_clock"] == "2026-12-02T03:00:04.000000+00:00"
    assert found["videos"] == 2 and found["encoded"] == 2 and found["errors"] == []
    assert found["hours"] == pytest.approx(19 / 3600, abs=1e-4)


def test_an_image_query_finds_the_frames_that_look_like_it(stand_in, footage, tmp_path):
    from PIL import Image

    yard, street = footage
    picture = tmp_path / "car.png"
    Image.fromarray(np.full((48, 64, 3), CAR, np.uint8)).save(picture)
    found = detector(stand_in, tmp_path).search(picture, [yard, street], top=1)
    assert found["kind"] == "image"
    (best,) = found["moments"]
    assert best["video"] == str(street) and 2.9 <= best["start_s"] <= 3.0


def test_cached_footage_is_searched_without_decoding_or_hashing_it(
    stand_in, footage, tmp_path, monkeypatch
):
    import vad.cache

    yard, street = footage
    first = detector(stand_in, tmp_path).search(QUERY, [yard, street])
    assert first["encoded"] == 2

    def no_more(*args, **kwargs):
        raise AssertionError("a known, unchanged video was read again")

    monkeypatch.setattr(vad.cache, "content_hash", no_more)
    det = detector(stand_in, tmp_path)
    monkeypatch.setattr(det, "_encode_video", no_more)
    again = det.search(QUERY, [yard, street])
    assert again["encoded"] == 0 and again["moments"] == first["moments"]


def test_a_changed_video_is_not_served_from_the_cache(stand_in, footage, tmp_path):
    yard, street = footage
    detector(stand_in, tmp_path).search(QUERY, [yard])
    write_levels(yard, [CAR] * 50)  # rewritten: another content under the same name
    found = detector(stand_in, tmp_path).search(QUERY, [yard])
    assert found["encoded"] == 1 and found["hours"] == pytest.approx(5 / 3600, abs=1e-4)


def test_moments_merge_adjacent_hits_and_keep_far_ones_apart():
    from vad.cache import VideoEmbeddings

    q = np.array([1.0, 0.0])
    sims = np.full(40, 0.0)
    sims[[5, 6, 7, 30]] = [0.9, 0.95, 0.9, 0.8]
    emb = np.stack([sims, np.sqrt(1 - sims**2)], axis=1)
    video = VideoEmbeddings(emb, np.arange(40), np.arange(40) / 2.0, 40, 2.0)
    moments = find_moments(q, [("v", video)], top=2)
    assert [(m.start_s, m.end_s, m.peak_s, m.hits) for m in moments] == [
        (2.5, 4.0, 3.0, 3),
        (15.0, 15.5, 15.0, 1),
    ]
    with pytest.raises(ValueError, match="top must be at least 1"):
        find_moments(q, [("v", video)], top=0)


def test_an_unreadable_video_is_reported_and_the_rest_searched(stand_in, footage, tmp_path):
    yard, _ = footage
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    found = detector(stand_in, tmp_path).search(QUERY, [junk, yard], top=1)
    assert found["moments"][0]["video"] == str(yard)
    assert len(found["errors"]) == 1 and found["errors"][0].startswith(f"{junk}: ")
    with pytest.raises(VideoError):
        detector(stand_in, tmp_path).cached_embeddings(tmp_path / "missing.mp4")


def test_vad_search_prints_json_and_writes_a_page(tmp_path, videos_dir, tiny_model):
    video = videos_dir / "Megamind.avi"
    page = tmp_path / "found.html"
    args = ["search", QUERY, str(video), "--model", tiny_model, "--sample-fps", "1"]
    args += ["--cache-dir", str(tmp_path / "c"), "--top", "2"]
    rc, out, err = run_vad([*args, "--json", "--html", str(page)])
    assert rc == 0, err
    found = json.loads(out)
    assert found["query"] == QUERY and found["kind"] == "text" and found["encoded"] == 1
    assert [m["rank"] for m in found["moments"]] == [1, 2]
    for m in found["moments"]:
        assert m["video"] == str(video) and 0 <= m["start_s"] <= m["peak_s"] < m["end_s"]
        assert -1.0 <= m["similarity"] <= 1.0
    text = page.read_text()
    assert text.count('<img src="data:image/jpeg;base64,') == 2  # a thumbnail per moment
    assert "Megamind.avi#t=" in text and "http" not in text
    rc, out, _ = run_vad(args)  # the cache now: plain text lines, best first
    lines = out.splitlines()
    assert rc == 0 and lines[0].startswith(f"2 moments like '{QUERY}' (text) in 1 video")
    assert lines[1].lstrip().startswith("1. ") and str(video) in lines[1]


def test_vad_search_usage_errors(tmp_path):
    rc, _, err = run_vad(["search", QUERY, "--out", "x"])
    assert rc == 2 and "(see `vad search --help`)" in err
    rc, _, err = run_vad(["search", QUERY, str(tmp_path), "--top", "0"])
    assert rc == 2 and err == "vad: error: --top must be at least 1, got 0\n"

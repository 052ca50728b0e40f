"""The embedding cache: hits give the same embeddings and scores as a run without it, anything
downstream of the encoder re-scores without decoding or encoding, and anything that shapes the
embeddings (video content, model, weights, sampling, preprocessing, decoder) misses it."""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from vad.cache import EmbeddingCache, VideoEmbeddings, default_cache_dir
from vad.cli import main
from vad.media.sampler import FrameSampler
from vad.pipeline import Detector

BANK = """\
version: 1
name: cache-test
templates: ["a surveillance camera frame of {action} {place}."]
global_templates: ["a surveillance camera frame of {action}."]
scene_templates: ["a surveillance camera view of {scene}."]
global:
  normal: ["people walking"]
  anomalous: ["people fighting"]
scenes:
  - name: street
    scene: a city street
    place: on a city street
    normal: ["a car driving normally"]
    anomalous: ["a car crash"]
  - name: store
    scene: a convenience store
    place: in a convenience store
    normal: ["a customer paying"]
    anomalous: ["a person jumping over the counter"]
"""


@pytest.fixture(scope="module")
def encoder(tiny_model):
    from vad.model.encoder import ClipEncoder

    return ClipEncoder(tiny_model, None, device="cpu")


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bank") / "bank.yaml"
    path.write_text(BANK)
    return path


@pytest.fixture()
def clip(tmp_path, videos_dir) -> Path:
    """A private copy of Megamind.avi (270 frames) that a test may change."""
    path = tmp_path / "clip.avi"
    shutil.copyfile(videos_dir / "Megamind.avi", path)
    return path


def make(encoder, bank, cache_dir, **kwargs) -> Detector:
    settings = {"sample_fps": 1.0, "prompts": str(bank), "cache_dir": cache_dir, **kwargs}
    if "isolate_decoding" in inspect.signature(Detector).parameters:
        settings.setdefault("isolate_decoding", False)  # no worker process to start: faster
    return Detector(model=encoder.model_name, pretrained=None, encoder=encoder, **settings)


def entries(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "embeddings").rglob("*.npz")) if cache_dir.exists() else []


def forbid_decoding(monkeypatch, encoder) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("decoded or encoded a video although it is cached")

    monkeypatch.setattr(Detector, "_encode_video", forbidden)
    monkeypatch.setattr(FrameSampler, "open", forbidden)
    monkeypatch.setattr(encoder, "encode_images", forbidden)


def test_hit_gives_the_embeddings_and_scores_of_an_uncached_run(encoder, bank, cache_dir, clip):
    first = make(encoder, bank, cache_dir).embed(clip)
    assert not first.from_cache
    assert len(entries(cache_dir)) == 1
    hit = make(encoder, bank, cache_dir).embed(clip)
    assert hit.from_cache
    np.testing.assert_array_equal(hit.embeddings, first.embeddings)
    np.testing.assert_array_equal(hit.indices, first.indices)
    np.testing.assert_array_equal(hit.times, first.times)
    assert (hit.num_frames, hit.fps) == (first.num_frames, first.fps) == (270, first.fps)
    uncached = make(encoder, bank, cache_dir, use_cache=False)
    expected = uncached.score(clip)
    got = make(encoder, bank, cache_dir).score_embeddings(hit, video=clip)
    np.testing.assert_allclose(got["scores"], expected["scores"], atol=1e-4)
    assert got == expected


@pytest.fixture(scope="module")
def filled(encoder, bank, videos_dir, tmp_path_factory) -> tuple[Path, Path, dict]:
    """A cache holding Megamind.avi's embeddings, and the result they score to."""
    cache_dir = tmp_path_factory.mktemp("filled-cache")
    clip = videos_dir / "Megamind.avi"
    return clip, cache_dir, make(encoder, bank, cache_dir).score(clip)


@pytest.mark.parametrize(
    "change",
    [
        {"context": "none"},
        {"context": "store"},
        {"context": "a bank vault"},
        {"context_window_s": 4.0},
        {"smoothing": "median", "window_s": 3.0},
        {"event_threshold": 0.1},
        {"prompts": "other bank"},
    ],
)
def test_downstream_changes_rescore_from_cache(encoder, bank, filled, monkeypatch, change):
    clip, cache_dir, reference = filled
    if change.get("prompts"):
        other = bank.with_name("other.yaml")
        other.write_text(BANK.replace("a car crash", "a car on fire").replace("cache-test", "o"))
        change = {"prompts": str(other)}
    forbid_decoding(monkeypatch, encoder)
    changed = make(encoder, bank, cache_dir, **change)
    emb = changed.embed(clip)
    assert emb.from_cache
    result = changed.score_embeddings(emb, video=clip)
    assert len(result["scores"]) == 270
    if "event_threshold" not in change:
        assert result != reference  # really re-scored under the new setting


@pytest.mark.parametrize("change", [{"sample_fps": 2.0}, {"backend": "opencv"}])
def test_sampling_or_decoder_changes_miss(encoder, bank, cache_dir, clip, change):
    make(encoder, bank, cache_dir).embed(clip)
    emb = make(encoder, bank, cache_dir, **change).embed(clip)
    assert not emb.from_cache
    assert len(entries(cache_dir)) == 2


def test_other_weights_miss(encoder, bank, cache_dir, clip, tmp_path):
    from vad.model.encoder import ClipEncoder
    from vad.testing import make_tiny_model_dir

    make(encoder, bank, cache_dir).embed(clip)
    other = ClipEncoder(f"local-dir:{make_tiny_model_dir(tmp_path / 'other', seed=1)}", None)
    emb = make(other, bank, cache_dir).embed(clip)
    assert not emb.from_cache
    assert len(entries(cache_dir)) == 2


def test_key_covers_preprocessing_and_precision_not_number_spelling(clip, tmp_path):
    cache = EmbeddingCache(tmp_path)
    ident = {"model": "m", "pretrained": "w", "preprocess": "224x224-shortest", "precision": "fp32"}
    base = cache.key(clip, ident, 2.0)
    assert cache.key(clip, ident, 2) == base
    assert cache.key(clip, {**ident, "preprocess": "256x256-shortest"}, 2.0) != base
    assert cache.key(clip, {**ident, "precision": "fp16"}, 2.0) != base
    assert cache.key(clip, ident, 4.0) != base


def test_changed_video_misses_and_renamed_copy_hits(encoder, bank, cache_dir, clip, vtest):
    det = make(encoder, bank, cache_dir)
    det.embed(clip)
    renamed = clip.with_name("renamed.avi")
    shutil.copyfile(clip, renamed)
    assert det.embed(renamed).from_cache  # keyed by content, not by path
    # same size, one byte changed, later mtime: an edited file
    data = bytearray(clip.read_bytes())
    data[len(data) // 2] ^= 0xFF
    clip.write_bytes(bytes(data))
    st = clip.stat()
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not det.embed(clip).from_cache
    # replaced by another video: a miss, and the new video's frames
    shutil.copyfile(vtest, clip)
    emb = det.embed(clip)
    assert not emb.from_cache and emb.num_frames == 795


def test_unreadable_entry_is_ignored_and_replaced(encoder, bank, cache_dir, clip, caplog):
    det = make(encoder, bank, cache_dir)
    det.embed(clip)
    (entry,) = entries(cache_dir)
    entry.write_bytes(entry.read_bytes()[:1000])  # truncated, e.g. a full disk
    with caplog.at_level(logging.WARNING, logger="vad.cache"):
        emb = det.embed(clip)
    assert not emb.from_cache and emb.num_frames == 270
    assert "ignoring unreadable cache entry" in caplog.text
    assert det.embed(clip).from_cache  # rewritten


def test_inconsistent_entry_is_ignored(encoder, bank, cache_dir, clip):
    det = make(encoder, bank, cache_dir)
    good = det.embed(clip)
    (entry,) = entries(cache_dir)
    meta = json.dumps({"num_frames": 270, "fps": good.fps})
    np.savez(entry, embeddings=good.embeddings, indices=good.indices[:-1], times=good.times,
             meta=np.array(meta))  # fmt: skip
    assert not det.embed(clip).from_cache


def test_entries_are_plain_npz_without_pickle(encoder, bank, cache_dir, clip):
    emb = make(encoder, bank, cache_dir).embed(clip)
    (entry,) = entries(cache_dir)
    with np.load(entry, allow_pickle=False) as z:
        assert set(z.files) == {"embeddings", "indices", "times", "meta"}
        assert all(z[k].dtype != object for k in z.files)
        assert z["embeddings"].dtype == np.float32
        meta = json.loads(str(z["meta"]))
    assert meta["num_frames"] == 270 and meta["fps"] == pytest.approx(emb.fps)


def test_no_cache_neither_reads_nor_writes(encoder, bank, cache_dir, clip):
    assert not make(encoder, bank, cache_dir, use_cache=False).embed(clip).from_cache
    assert entries(cache_dir) == []
    make(encoder, bank, cache_dir).embed(clip)
    assert not make(encoder, bank, cache_dir, use_cache=False).embed(clip).from_cache


def test_no_cache_keeps_the_prompt_banks_embeddings(tiny_model, bank, cache_dir, clip, tmp_path):
    """``--no-cache`` is about the videos: the bank's text embeddings are kept like the model's
    export, so a later run (with or without it) does not encode the bank again."""
    args = ["score", str(clip), "--model", tiny_model, "--sample-fps", "1", "--prompts", str(bank)]
    args += ["--cache-dir", str(cache_dir), "--no-cache"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert entries(cache_dir) == []  # no video embeddings
    texts = sorted((cache_dir / "text").glob("*.npz"))
    assert len(texts) == 1
    written = texts[0].stat().st_mtime_ns
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert sorted((cache_dir / "text").glob("*.npz")) == texts
    assert texts[0].stat().st_mtime_ns == written  # read, not encoded and written again


def test_vad_score_uses_the_cache(tiny_model, bank, cache_dir, clip, tmp_path, monkeypatch):
    args = ["score", str(clip), "--model", tiny_model, "--sample-fps", "1", "--prompts", str(bank)]
    args += ["--cache-dir", str(cache_dir)]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert len(entries(cache_dir)) == 1

    def forbidden(*a, **k):
        raise AssertionError("decoded a cached video")

    monkeypatch.setattr(Detector, "_encode_video", forbidden)
    assert main([*args, "--out", str(tmp_path / "b"), "--context", "none"]) == 0
    a = json.loads((tmp_path / "a" / "clip.json").read_text())
    b = json.loads((tmp_path / "b" / "clip.json").read_text())
    assert b["context"]["mode"] == "none" and b["num_frames"] == a["num_frames"] == 270


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VAD_CACHE_DIR", str(tmp_path / "vad-cache"))
    assert default_cache_dir() == tmp_path / "vad-cache"
    assert Detector(prompts="default").cache_dir == tmp_path / "vad-cache"
    monkeypatch.delenv("VAD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "vad"


def test_a_video_that_changes_while_decoded_is_not_cached(
    encoder, bank, cache_dir, clip, monkeypatch
):
    """The file is cut short after its key is taken and before it is decoded, then restored
    with its old mtime: the short result must not be served for the restored file."""
    full = clip.read_bytes()
    st = clip.stat()
    decode = Detector._encode_video

    def truncate_then_decode(self, path):
        with open(path, "r+b") as f:
            f.truncate(len(full) // 4)
        return decode(self, path)

    monkeypatch.setattr(Detector, "_encode_video", truncate_then_decode)
    short = make(encoder, bank, cache_dir).embed(clip)
    assert short.num_frames < 270
    assert entries(cache_dir) == []  # changed while decoded: nothing cached
    monkeypatch.setattr(Detector, "_encode_video", decode)
    clip.write_bytes(full)
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))  # even the old mtime
    again = make(encoder, bank, cache_dir).embed(clip)
    assert not again.from_cache and again.num_frames == 270
    assert len(entries(cache_dir)) == 1
    assert make(encoder, bank, cache_dir).embed(clip).from_cache  # an unchanged file is cached


def test_still_valid_sees_a_rewrite_with_the_same_size_and_mtime(tmp_path):
    path = tmp_path / "v.bin"
    path.write_bytes(b"a" * 100)
    cache = EmbeddingCache(tmp_path / "cache")
    key = cache.key(path, {"model": "m"}, 2.0)
    assert cache.still_valid(key)
    st = path.stat()
    path.write_bytes(b"b" * 100)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert not cache.still_valid(key)
    emb = VideoEmbeddings(np.ones((1, 4), np.float32), np.arange(1), np.zeros(1), 1, 1.0)
    cache.put(key, emb)
    assert cache.get(key) is None

"""What vad says: each message a user reads is one clear line, in words that fit where they read
it (the command line's flags, the Python API's keyword arguments), with counts in good English."""

from __future__ import annotations

import logging

import pytest
from conftest import run_vad

from vad.media.frames import VideoError
from vad.media.sampler import FrameSampler


def test_an_out_of_range_threshold_reads_as_one_sentence(tmp_path):
    rc, _, err = run_vad(["score", "x.mp4", "--out", str(tmp_path), "--event-threshold", "5"])
    assert rc == 2
    assert err == "vad: error: --event-threshold: must be at least 0 and at most 1, got 5\n"


def test_a_text_file_given_by_name_is_not_a_video(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("camera 3 was moved on Monday\n" * 5)
    with pytest.raises(VideoError) as info:
        FrameSampler().open(notes)
    assert str(info.value) == f"{notes}: not a video (it is a text file)"


@pytest.mark.parametrize(
    "argv,said",
    [
        (["score", "x.mp4", "--evnt-threshold", "0.5"],
         "unrecognized arguments: --evnt-threshold 0.5 (did you mean --event-threshold?) "
         "(see `vad score --help`)"),
        (["watch", "rtsp://cam", "--cooldwn-s=3"],
         "unrecognized arguments: --cooldwn-s=3 (did you mean --cooldown-s?) "
         "(see `vad watch --help`)"),
        (["eval", "--bogus-flag"], "(see `vad eval --help`)"),
    ],
)  # fmt: skip
def test_an_unknown_flag_points_at_the_subcommands_help(argv, said):
    rc, _, err = run_vad(argv)
    assert rc == 2 and len(err.splitlines()) == 1
    assert said in err and "`vad --help`" not in err


def test_the_cache_sentence_only_when_the_bank_is_cached(tmp_path, stand_in, caplog):
    from vad.model.prompts import PromptBank
    from vad.scoring.text import load_or_build_text

    bank = PromptBank.from_yaml("default")
    stand_in.cacheable = True  # as a real model: its bank embeddings can be kept
    with caplog.at_level(logging.INFO, logger="vad"):
        load_or_build_text(bank, stand_in, None)  # --no-cache
        load_or_build_text(bank, stand_in, tmp_path)
    said = [r.getMessage() for r in caplog.records if "encoding prompt bank" in r.getMessage()]
    assert len(said) == 2
    assert "cache" not in said[0]
    assert said[1].endswith("later runs read it from the cache")


def test_counts_are_in_the_singular_for_one():
    from vad.outputs.naming import summary_line

    result = {"video": "a.mp4", "num_frames": 1, "scores": [0.9],
              "context": {"scene": None}, "events": [{}]}  # fmt: skip
    line = summary_line(result, 0.5)
    assert "1 frame," in line and "1 event," in line
    assert "2 events" in summary_line({**result, "events": [{}, {}]}, 0.5)


def test_missing_weights_advise_the_api_in_its_words_and_the_cli_in_flags(monkeypatch, tmp_path):
    from vad.model import encoder
    from vad.pipeline import Detector

    monkeypatch.setattr(encoder, "_weights_cached", lambda *a: False)
    monkeypatch.setattr(encoder, "_hub_reachable", lambda *a, **k: False)
    det = Detector(model="ViT-B-32", pretrained="openai", cache_dir=tmp_path)
    with pytest.raises(encoder.WeightsUnavailable) as info:
        det.encoder  # noqa: B018 - loads the model
    assert "Detector(pretrained=" in str(info.value) and "--pretrained" not in str(info.value)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x")
    argv = ["score", str(video), "--out", str(tmp_path / "o"), "--model", "ViT-B-32"]
    rc, _, err = run_vad([*argv, "--pretrained", "openai", "--cache-dir", str(tmp_path)])
    assert rc == 2 and "--pretrained /path/to/checkpoint" in err and "Detector(" not in err


def test_models_says_where_the_caches_are(monkeypatch, tmp_path):
    monkeypatch.setenv("VAD_CACHE_DIR", str(tmp_path / "vad-cache"))
    rc, out, _ = run_vad(["models"])
    assert rc == 0
    assert f"vad's cache (frame and prompt embeddings): {tmp_path / 'vad-cache'}" in out
    assert "Weights cache: " in out

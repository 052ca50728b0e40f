"""`vad score` end to end on the real sample videos with a tiny random local-dir model."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vad.cli import main


def run_score(*args) -> int:
    return main(["score", *map(str, args)])


@pytest.fixture(scope="module")
def scored(tmp_path_factory, videos_dir, tiny_model):
    out = tmp_path_factory.mktemp("out")
    rc = run_score(
        videos_dir / "vtest.avi",
        videos_dir / "Megamind.avi",
        "--model",
        tiny_model,
        "--out",
        out,
        "--sample-fps",
        2,
        "--no-cache",
    )
    return rc, out


def test_one_score_per_decoded_frame(scored):
    rc, out = scored
    assert rc == 0
    for stem, frames in (("vtest", 795), ("Megamind", 270)):
        result = json.loads((out / f"{stem}.json").read_text())
        assert result["num_frames"] == frames
        assert len(result["scores"]) == frames
        assert all(0.0 <= s <= 1.0 for s in result["scores"])
        for key in (
            "video",
            "fps",
            "sample_fps",
            "model",
            "pretrained",
            "context",
            "events",
            "warnings",
        ):
            assert key in result
        assert result["context"]["mode"] == "auto" and result["context"]["scene"]
        # the tiny model's weights file holds random weights, and its config says so
        assert any(w.startswith("random model weights") for w in result["warnings"])


def test_csv_equals_json(scored):
    _, out = scored
    for stem in ("vtest", "Megamind"):
        result = json.loads((out / f"{stem}.json").read_text())
        with open(out / f"{stem}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert [int(r["frame"]) for r in rows] == list(range(result["num_frames"]))
        assert [float(r["score"]) for r in rows] == result["scores"]
        np.testing.assert_allclose(
            [float(r["time_s"]) for r in rows], np.arange(len(rows)) / result["fps"], atol=1e-6
        )


def test_context_changes_the_scores(tmp_path, vtest, tiny_model):
    scores = {}
    for ctx in ("none", "a bank vault", "a running track"):
        out = tmp_path / ctx.replace(" ", "_")
        assert (
            run_score(
                vtest, "--model", tiny_model, "--out", out, "--sample-fps", 1, "--context", ctx
            )
            == 0
        )
        result = json.loads((out / "vtest.json").read_text())
        assert len(result["scores"]) == 795
        scores[ctx] = np.array(result["scores"])
    assert result["context"]["scene"] == "running track"
    assert not np.allclose(scores["none"], scores["a bank vault"], atol=1e-5)
    assert not np.allclose(scores["a bank vault"], scores["a running track"], atol=1e-5)


def test_config_file_and_flags_override_it(tmp_path, vtest, tiny_model):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text(f"model: {tiny_model}\nsample_fps: 0.5\ncontext: none\n")
    assert run_score(vtest, "--config", cfg, "--out", tmp_path / "a") == 0
    a = json.loads((tmp_path / "a" / "vtest.json").read_text())
    assert a["sample_fps"] == 0.5 and a["context"]["mode"] == "none"
    assert run_score(vtest, "--config", cfg, "--sample-fps", 1, "--out", tmp_path / "b") == 0
    b = json.loads((tmp_path / "b" / "vtest.json").read_text())
    assert b["sample_fps"] == 1 and b["num_samples"] == 80


def test_bad_config_key_is_a_usage_error(tmp_path, vtest, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model: ViT-B-32\nsampel_fps: 2\n")
    assert run_score(vtest, "--config", cfg, "--out", tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert str(cfg) in err and "sampel_fps" in err and len(err.splitlines()) == 1


def test_prompts_and_models_commands(capsys):
    assert main(["prompts"]) == 0
    text = capsys.readouterr().out
    assert "bank vault" in text and "running track" in text
    assert main(["prompts", "--list"]) == 0
    assert set(capsys.readouterr().out.split()) >= {"default", "ucf-crime", "xd-violence"}
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "ViT-B-16" in out and "openai" in out and "cached" in out


def cli(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "vad", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_missing_weights_offline_exit_2_with_one_line(tmp_path, vtest):
    proc = cli(
        "score",
        vtest,
        "--model",
        "ViT-B-32",
        "--pretrained",
        "openai",
        "--out",
        tmp_path,
        env={
            "HF_HUB_OFFLINE": "1",
            "HF_HOME": str(tmp_path / "hf"),
            "XDG_CACHE_HOME": str(tmp_path / "xdg"),
        },
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "ViT-B-32" in lines[0] and "openai" in lines[0]
    assert "--pretrained" in lines[0] and "local-dir:" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("*.json"))


MINI_BANK = """
templates: ["a photo of {action} {place}."]
global_templates: ["a photo of {action}."]
scene_templates: ["a photo of {scene}."]
global: {normal: [people walking], anomalous: [people fighting]}
scenes:
  - {name: bank vault, scene: a bank vault, place: in a bank vault,
     normal: [a clerk counting money], anomalous: [a person running]}
"""


def test_random_weights_warn_loudly(tmp_path, vtest):
    bank = tmp_path / "mini.yaml"
    bank.write_text(MINI_BANK)
    proc = cli(
        "score",
        vtest,
        "--model",
        "ViT-B-32",
        "--pretrained",
        "none",
        "--sample-fps",
        "0.2",
        "--out",
        tmp_path,
        "--device",
        "cpu",
        "--runtime",  # not an OpenVINO export of a full-size model: this is about the warning
        "torch",
        "--prompts",
        bank,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "RANDOM weights" in proc.stderr
    result = json.loads((tmp_path / "vtest.json").read_text())
    assert any("meaningless" in w for w in result["warnings"])


def test_unknown_option_is_usage_error(tmp_path, vtest):
    proc = cli("score", vtest, "--sampl-fps", "2")
    assert proc.returncode == 2

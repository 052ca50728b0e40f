"""scripts/reproduce_*.sh end to end on fake datasets laid out as the real ones (a tiny random
model, short synthetic videos, annotation files in each dataset's format): the NOVA row, every
piece off in turn over the bank variants (mean ± std), both encoders, XD under xdviodet; and a
missing vad, a crash or a run without result is a failure, never a success line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SUCCESS = "reproduction finished"
BANK = """\
version: 1
name: {name}
templates: ["a surveillance camera frame of {{action}} {{place}}."]
global_templates: ["a surveillance camera frame of {{action}}."]
scene_templates: ["a surveillance camera view of {{scene}}."]
global:
  normal: ["people walking", "an empty corridor", "{calm}"]
  anomalous: ["people fighting", "a building on fire", "{cue}"]
scenes:
  - name: street
    scene: a city street
    place: on a city street
    normal: ["a car driving slowly"]
    anomalous: ["a car crash"]
"""
VARIANTS = {
    "bank-a": ("a quiet parking lot", "a person kicking a door"),
    "bank-b": ("an empty hallway at night", "a person smashing a window"),
    "bank-old": ("two boxers sparring", "a person running"),
}


def write_video(path: Path, seconds: float = 4.0, fps: int = 30, seed: int = 0) -> None:
    """A short synthetic MPEG-4 video: a still background, then moving blocks."""
    import av

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    background = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(int(seconds * fps)):
            frame = background.copy()
            if i > fps:  # something moves after the first second
                x = (3 * i) % 48
                frame[10:30, x : x + 16] = 255 - frame[10:30, x : x + 16]
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def banks(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("banks")
    out = {}
    for name, (calm, cue) in VARIANTS.items():
        out[name] = folder / f"{name}.yaml"
        out[name].write_text(BANK.format(name=name, calm=calm, cue=cue))
    return out


@pytest.fixture(scope="module")
def ucf_root(tmp_path_factory) -> Path:
    """UCF-Crime's layout: videos in class folders, the official annotation file."""
    root = tmp_path_factory.mktemp("UCF_Crimes")
    write_video(root / "Anomaly-Videos-Part-1" / "Abuse" / "Abuse001_x264.mp4", seed=1)
    write_video(root / "Anomaly-Videos-Part-2" / "Fighting" / "Fighting003_x264.mp4", seed=2)
    write_video(root / "Testing_Normal_Videos_Anomaly" / "Normal_Videos_001_x264.mp4", seed=3)
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(
        "Abuse001_x264.mp4  Abuse  40  90  -1  -1\n"
        "Fighting003_x264.mp4  Fighting  30  60  80  110\n"
        "Normal_Videos_001_x264.mp4  Normal  -1  -1  -1  -1\n"
    )
    return root


@pytest.fixture(scope="module")
def xd_set(tmp_path_factory) -> tuple[Path, Path]:
    """XD-Violence's layout: the test videos in one folder, named with their label code;
    annotations.txt lists the violent ones only."""
    root = tmp_path_factory.mktemp("XD-Violence")
    write_video(root / "test" / "v=abc123__#1_label_B1-0-0.mp4", seed=4)
    write_video(root / "test" / "Some.Movie.2001__#00-01-00_00-02-00_label_A.mp4", seed=5)
    (root / "annotations.txt").write_text("v=abc123__#1_label_B1-0-0 32 80\n")
    return root / "test", root / "annotations.txt"


@pytest.fixture(scope="module")
def models(tiny_model, tmp_path_factory) -> str:
    """Two encoders (the script's ViT-B-16 and PE-Core stand in as two tiny random models)."""
    from vad.testing import make_tiny_model_dir

    other = make_tiny_model_dir(tmp_path_factory.mktemp("tiny-model-b"), seed=1)
    return f"{tiny_model}:none local-dir:{other}:none"


def run_script(script: str, args: list[str], env: dict, cwd: Path = REPO):
    full = {**os.environ, "PYTHON": sys.executable, **env}
    return subprocess.run(
        ["bash", str(REPO / "scripts" / script), *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=cwd,
        timeout=900,
    )


def bank_env(banks: dict[str, Path]) -> dict:
    return {
        "BANKS": f"{banks['bank-a']} {banks['bank-b']}",
        "PREVIOUS_BANKS": str(banks["bank-old"]),
    }


def read(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_ucf_crime_reproduction_gives_the_whole_table(ucf_root, banks, models, tmp_path):
    out = tmp_path / "runs"
    extra = ["--cache-dir", str(tmp_path / "cache"), "--no-report"]
    done = run_script(
        "reproduce_ucf_crime.sh",
        [str(ucf_root), str(out), *extra],
        {"MODELS": models, **bank_env(banks)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == f"{SUCCESS}: {out}/summary.md"
    runs = sorted(p.name for p in out.iterdir() if p.is_dir())
    nova_dirs = [out / r for r in runs if r.startswith("nova-")]
    assert len(nova_dirs) == 2 and len(runs) == 3 and "default-preset" in runs
    for folder in nova_dirs:
        metrics = read(folder / "metrics.json")
        settings = metrics["settings"]
        assert (settings["head"], settings["anchor"], settings["motion_gate"]) == (
            "margin",
            "nova",
            "nova",
        )
        assert settings["context"] == "none" and settings["refine"] == "none"
        assert metrics["num_videos"] == 3 and metrics["auc"] is not None
        summary = {e["variant"]: e for e in read(folder / "ablation_summary.json")}
        nova = summary["this run's recipe"]
        assert nova["banks"] == [str(banks["bank-a"]), str(banks["bank-b"])]
        assert nova["auc_mean"] is not None and nova["auc_std"] is not None  # over 2 banks
        off = {"anchor none", "anchor mean", "motion gate off", "motion gate unscaled"}
        off |= {"refine knn", "context auto", "head softmax", "head knn-vote", "smoothing off"}
        assert off <= set(summary)
        assert summary["previous banks (no NA)"]["banks"] == [str(banks["bank-old"])]
        baseline = summary["baseline: previous banks, no anchor, no motion gate"]
        assert (baseline["anchor"], baseline["motion_gate"]) == ("none", "off")
        assert all(len(e["banks"]) == 2 for k, e in summary.items() if k in off)
    default = read(out / "default-preset" / "metrics.json")["settings"]
    assert (default["context"], default["prompts"], default["motion_gate"]) == (
        "auto",
        "default",
        "off",
    )
    table = (out / "summary.md").read_text()
    assert table.count("| this run's recipe |") == 2 and "±" in table


def test_xd_violence_reproduction_uses_the_official_ground_truth(
    xd_set, banks, tiny_model, tmp_path
):
    videos, annotations = xd_set
    out = tmp_path / "runs"
    extra = ["--cache-dir", str(tmp_path / "cache"), "--no-report"]
    env = {"MODELS": f"{tiny_model}:none", **bank_env(banks), "PREVIOUS_BANKS": ""}
    env["DEFAULT_PRESET"] = "0"  # run once in the UCF-Crime test; each run imports torch
    done = run_script(
        "reproduce_xd_violence.sh", [str(videos), str(annotations), str(out), *extra], env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert SUCCESS in done.stdout
    nova = next(p for p in out.iterdir() if p.name.startswith("nova-"))
    metrics = read(nova / "metrics.json")
    assert metrics["protocol"]["name"] == "xdviodet" and metrics["num_videos"] == 2
    assert metrics["settings"]["prompts"] == "bank-a"
    variants = [e["variant"] for e in read(nova / "ablation_summary.json")]
    assert "previous banks (no NA)" not in variants  # PREVIOUS_BANKS set empty
    assert not (out / "default-preset").exists()


def fake_python(tmp_path: Path, body: str) -> str:
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


# Stand-ins for a broken install; the real interpreter answers everything but `-m vad`.
REAL = f'exec {sys.executable} "$@"'
BROKEN = {
    "missing-vad": ('echo "No module named vad" >&2; exit 1', "cannot import vad"),
    # `python -m vad eval` dies with a traceback: exit 1, no metrics.json
    "crash": (
        'case "$1" in -m) echo "Traceback (most recent call last): ..." >&2; exit 1;; esac\n'
        + REAL,
        "crashed",
    ),
    # what `vad eval` does when no listed video can be scored: exit 1, metrics without AUC
    "no-result": (
        'case "$1" in -m) mkdir -p "$5"; printf \'{"auc": null, "ap": null, "missing": '
        '[{"name": "Abuse001_x264.mp4"}], "failed": []}\' > "$5/metrics.json"; exit 1;; esac\n'
        + REAL,
        "no AUC or AP",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_install_or_run_fails_loudly(ucf_root, banks, tmp_path, case):
    body, why = BROKEN[case]
    env = {"PYTHON": fake_python(tmp_path, body), **bank_env(banks)}
    done = run_script("reproduce_ucf_crime.sh", [str(ucf_root), str(tmp_path / "out")], env)
    assert done.returncode != 0
    assert SUCCESS not in done.stdout and why in done.stderr

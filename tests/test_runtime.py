"""Runtimes: OpenVINO's embeddings agree with torch fp32 for every shipped preset's architecture
(reduced configs, random weights) and the tiny model; a whole video's scores agree; exports are
reused and keyed by the weights; runtime and precision are recorded and never mixed; a failed
export falls back to torch; a warm scoring run imports neither torch nor open_clip."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino")

from vad.model.encoder import ClipEncoder  # noqa: E402
from vad.model.openvino import OpenVINOEncoder, export, export_root, synthetic_images  # noqa: E402
from vad.model.runtime import build_encoder, openvino_precision, resolve_runtime  # noqa: E402
from vad.pipeline import Detector  # noqa: E402
from vad.testing import REDUCED_PRESET_CFGS, make_config_dir  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
AGREEMENT = 0.999  # cosine to torch fp32, images and texts (the bar)
TEXTS = ["a person climbing a fence at night", "an empty parking garage", "people fighting", "a"]
BANK = """\
version: 1
name: runtime-test
templates: ["a surveillance camera frame of {action} {place}."]
global_templates: ["a surveillance camera frame of {action}."]
scene_templates: ["a surveillance camera view of {scene}."]
global:
  normal: ["people walking", "an empty room"]
  anomalous: ["people fighting", "a person falling down"]
scenes:
  - name: street
    scene: a city street
    place: on a city street
    normal: ["a car driving normally"]
    anomalous: ["a car crash"]
"""


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("bank") / "bank.yaml"
    path.write_text(BANK)
    return str(path)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module", params=[*REDUCED_PRESET_CFGS, "tiny"])
def architecture(request, tmp_path_factory, tiny_model) -> str:
    if request.param == "tiny":
        return tiny_model
    folder = tmp_path_factory.mktemp(request.param)
    return f"local-dir:{make_config_dir(folder, REDUCED_PRESET_CFGS[request.param])}"


def test_openvino_agrees_with_torch_fp32(architecture, tmp_path):
    torch_encoder = ClipEncoder(architecture, "none", "cpu", "fp32")
    precision = openvino_precision("auto", _capabilities())  # bf16 where native, else fp32
    ov = OpenVINOEncoder(export(architecture, "none", precision, tmp_path), precision)
    pixels = synthetic_images(6, torch_encoder.preprocess.size, seed=11)
    x = torch_encoder.preprocess.normalize(pixels)
    ref_images, ov_images = torch_encoder.encode_images(x), ov.encode_images(x)
    assert ov_images.shape == ref_images.shape and ov_images.dtype == np.float32
    assert cosines(ov_images, ref_images).min() >= AGREEMENT
    ref_texts, ov_texts = torch_encoder.encode_text(TEXTS), ov.encode_text(TEXTS)
    assert cosines(ov_texts, ref_texts).min() >= AGREEMENT
    # the comparison can fail: different images (texts) are further apart than the runtimes
    assert (ref_images @ ref_images.T)[np.triu_indices(6, 1)].min() < AGREEMENT
    assert (ref_texts @ ref_texts.T)[np.triu_indices(len(TEXTS), 1)].min() < AGREEMENT
    assert ov.logit_scale == pytest.approx(torch_encoder.logit_scale)
    assert ov.preprocess == torch_encoder.preprocess


def _capabilities() -> list[str]:
    from vad.model.openvino import cpu_capabilities

    return cpu_capabilities()


def test_a_whole_videos_scores_agree(tiny_model, vtest, bank, tmp_path):
    """Scores of vtest.avi (159 samples) by both runtimes: within 0.01 of each other (scores
    are in [0, 1]) at every frame, and the same events."""
    results = {}
    for runtime in ("torch", "openvino"):
        with Detector(
            model=tiny_model, runtime=runtime, prompts=bank, cache_dir=tmp_path / runtime
        ) as det:
            results[runtime] = det.score(vtest)
    a, b = (np.asarray(results[r]["scores"]) for r in ("torch", "openvino"))
    assert len(a) == len(b) == 795
    assert np.abs(a - b).max() <= 0.01
    assert results["torch"]["runtime"] == "torch" and results["openvino"]["runtime"] == "openvino"
    assert results["openvino"]["precision"] in ("fp32", "bf16")
    assert [e["start_frame"] for e in results["torch"]["events"]] == [
        e["start_frame"] for e in results["openvino"]["events"]
    ]


def test_exports_are_reused_and_keyed_by_the_weights(tiny_model, tmp_path):
    from vad.model.modelid import weights_identity
    from vad.model.openvino import export_folder
    from vad.testing import make_tiny_model_dir

    hidden_before = {p.name for p in export_root(tmp_path).glob(".*")}  # others' in progress
    first = export(tiny_model, "none", "fp32", tmp_path)  # made by an earlier test, or now
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["agreement"]["image_min_cos"] >= AGREEMENT
    mtime = (first / "image.xml").stat().st_mtime_ns
    assert export(tiny_model, "none", "fp32", tmp_path) == first  # reused, not remade
    assert (first / "image.xml").stat().st_mtime_ns == mtime
    assert {p.name for p in first.parent.glob(".*")} <= hidden_before  # no leftovers
    # another checkpoint in the same place, or another precision: another export
    folder = make_tiny_model_dir(tmp_path / "model")
    model = f"local-dir:{folder}"
    before = export_folder(tmp_path, model, weights_identity(model, "none", tmp_path), "fp32")
    make_tiny_model_dir(folder, seed=1)
    after = export_folder(tmp_path, model, weights_identity(model, "none", tmp_path), "fp32")
    bf16 = export_folder(tmp_path, model, weights_identity(model, "none", tmp_path), "bf16")
    assert len({before, after, bf16}) == 3


def test_a_failed_export_falls_back_to_torch_with_one_warning(
    tiny_model, tmp_path, caplog, monkeypatch
):
    import vad.model.openvino as ove

    def broken(*args, **kwargs):
        raise RuntimeError("conversion failed: no rule for aten::something")

    monkeypatch.setenv("VAD_EXPORT_DIR", str(tmp_path / "exports"))  # none made yet
    monkeypatch.setattr(ove, "_convert", broken)
    with caplog.at_level(logging.WARNING, logger="vad"):
        encoder = build_encoder(tiny_model, "none", "cpu", "auto", "openvino", tmp_path)
    assert isinstance(encoder, ClipEncoder) and encoder.identity()["runtime"] == "torch"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "torch" in r.message]
    assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
    assert not list(export_root(tmp_path).glob("*"))  # nothing half-made was kept


def test_runtimes_and_precisions_never_share_cache_entries(tiny_model, vtest, bank, tmp_path):
    from vad.cache import EmbeddingCache, embedding_identity
    from vad.model.prompts import PromptBank
    from vad.scoring.text import text_cache_key

    keys = set()
    for runtime in ("torch", "openvino"):
        with Detector(model=tiny_model, runtime=runtime, prompts=bank, cache_dir=tmp_path) as det:
            emb = det.embed(vtest)
            identity = embedding_identity(det.encoder.identity(), det.backend)
            key = EmbeddingCache(tmp_path).key(vtest, identity, det.sample_fps)
            keys.add(key)
            stored = EmbeddingCache(tmp_path).get(key)
            assert stored is not None and stored.made_by == {
                "runtime": runtime,
                "precision": det.encoder.identity()["precision"],
            }
            assert not emb.from_cache
    assert len(keys) == 2
    bank = PromptBank.from_yaml("default")
    base = {"model": "m", "pretrained": "w", "runtime": "openvino"}
    assert text_cache_key(bank, {**base, "precision": "fp32"}) != text_cache_key(
        bank, {**base, "precision": "bf16"}
    )


def test_choices_and_where_openvino_cannot_run():
    assert resolve_runtime("auto", "cpu") == "openvino"
    assert resolve_runtime("torch", "cpu") == "torch"
    with pytest.raises(ValueError, match="openvino runs on the CPU"):
        resolve_runtime("openvino", "cuda")
    with pytest.raises(ValueError, match="choose from auto, torch, openvino"):
        Detector(model="ViT-B-32", runtime="onnx")
    with pytest.raises(ValueError, match="int8 needs --runtime openvino"):
        build_encoder("ViT-B-32", "none", "cpu", "int8", "torch")
    assert openvino_precision("bf16", ["FP32", "INT8"]) == "fp32"  # not native: fp32, warned
    assert openvino_precision("fp32", ["FP32", "BF16"]) == "fp32"


def test_int8_is_quantised_and_its_agreement_reported(tiny_model, tmp_path, caplog):
    pytest.importorskip("nncf")
    with caplog.at_level(logging.WARNING, logger="vad"):
        encoder = build_encoder(tiny_model, "none", "cpu", "int8", "openvino", tmp_path)
    assert isinstance(encoder, OpenVINOEncoder) and encoder.identity()["precision"] == "int8"
    agreement = encoder.manifest["agreement"]
    assert 0 < agreement["image_min_cos"] <= 1
    assert any("int8" in r.message and "cosine" in r.message for r in caplog.records)
    fp32 = build_encoder(tiny_model, "none", "cpu", "fp32", "openvino", tmp_path)
    assert fp32.folder != encoder.folder


def _imports(stderr: str) -> set[str]:
    """Top-level packages in ``-X importtime`` lines (every process that inherited it)."""
    return {m.group(1).split(".")[0] for m in re.finditer(r"\|\s+(\S+)\s*$", stderr, re.M)}


def _vad(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "vad", "-v", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )


def test_a_warm_scoring_run_never_imports_torch_or_open_clip(tiny_model, vtest, bank, tmp_path):
    cache = tmp_path / "cache"
    # warm: the export (shared by the session) and the prompt bank's text embeddings
    Detector(model=tiny_model, prompts=bank, cache_dir=cache).text_embeddings()
    common = ["--model", tiny_model, "--prompts", bank, "--sample-fps", "1"]
    warm = _vad(["score", str(vtest), "--out", str(tmp_path / "b"), *common, "--cache-dir",
                 str(cache)], tmp_path)  # fmt: skip
    assert warm.returncode == 0, warm.stderr[-2000:]
    imported = _imports(warm.stderr)
    # both processes reported: the decode worker (the only one that decodes) imported PyAV
    assert {"openvino", "av", "vad"} <= imported
    assert "encoding prompt bank" not in warm.stderr  # it was warm
    assert not imported & {"torch", "open_clip", "torchvision", "timm"}
    result = json.loads((tmp_path / "b" / "vtest.json").read_text())
    assert result["runtime"] == "openvino"


@pytest.mark.parametrize(
    "args",
    [
        ["score", "missing.mp4"],
        ["score", "x.mp4", "--sample-fps", "nan"],
        ["score", "x.mp4", "--runtime", "tensorrt"],
    ],
)
def test_errors_that_need_no_model_import_no_model_library(args, tmp_path):
    run = _vad(args, tmp_path)
    assert run.returncode in (1, 2)
    lines = [ln for ln in run.stderr.splitlines() if not ln.startswith("import time")]
    assert any(ln.startswith("vad: error:") for ln in lines)
    assert not _imports(run.stderr) & {"torch", "open_clip", "openvino"}

"""The GPU path on a real GPU (skipped without one; tests/test_devices.py shows the same
behaviour on a CPU with stand-ins): device checks, bf16 where native, the user's CUDA
generators left alone, embeddings that agree with the CPU's and are finite, one batch really
queued ahead, logit scales kept in fp32, out of memory stopping the run, and ``vad score`` on
the GPU with both engines. Everything runs in subprocesses given ``gpu_env``: the suite's own
process sees no GPU (tests/conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_timm_model_dir

pytestmark = pytest.mark.cuda
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def facts(gpu_env, tiny_model, tmp_path_factory) -> dict:
    timm = make_timm_model_dir(tmp_path_factory.mktemp("timm-model"), logit_scale=4.6052)
    tiny = tiny_model.removeprefix("local-dir:")
    done = subprocess.run(
        [sys.executable, str(TESTS / "cuda_probe.py"), tiny, str(timm)],
        env=gpu_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_gpu_past_the_last_is_a_usage_error_naming_the_gpus(facts):
    n = facts["gpus"]
    assert facts["gpu_past_the_last"] is not None and f"cuda:{n}" in facts["gpu_past_the_last"]


def test_auto_is_bf16_exactly_where_the_gpu_does_bf16_natively(facts):
    native = facts["capability"] >= [8, 0]
    assert native == facts["torch_bf16_native"]
    assert facts["auto_precision"] == facts["encoder_precision"] == ("bf16" if native else "fp16")


def test_building_an_encoder_leaves_the_users_cuda_generators_alone(facts):
    assert facts["cuda_rng_untouched"]


def test_gpu_embeddings_are_finite_and_agree_with_the_cpus(facts):
    assert facts["finite"]
    assert facts["min_cos_to_cpu_fp32"] >= 0.99  # half precision, tiny random model


def test_collecting_a_batch_does_not_wait_for_the_batches_queued_after_it(facts):
    assert facts["collect_waited_for_later_work"] is False
    assert facts["overlap_same_values"] <= 1e-2


def test_a_timm_model_in_bf16_keeps_its_fp32_logit_scale(facts):
    assert facts["timm_logit_scale"] == pytest.approx(100.0, abs=1e-3)  # bf16 would give 98.9


def test_out_of_memory_is_one_error_naming_the_batch_size(facts):
    message = facts["out_of_memory"]
    assert message is not None and "ran out of memory" in message and "--batch-size" in message


def _score(argv, env, out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "vad", "score", *argv, "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    results = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    return done, results


def test_vad_score_on_the_gpu_with_both_engines(gpu_env, videos_dir, tiny_model, tmp_path):
    """The local engine and Ray (a GPU per actor, by default) on the GPU: Ray's actors run at
    the precision the local engine chose (its cache entry for vtest is reused, not re-encoded),
    its GPU actors encode the other video, and a GPU that is not there is one usage line."""
    cache = tmp_path / "c"
    common = ["--model", tiny_model, "--cache-dir", str(cache)]
    vtest, megamind = str(videos_dir / "vtest.avi"), str(videos_dir / "Megamind.avi")
    local, a = _score([vtest, *common, "--device", "cuda"], gpu_env, tmp_path / "local")
    assert local.returncode == 0, local.stderr[-2000:]
    assert a.keys() == {"vtest"} and len(list(cache.glob("embeddings/*/*.npz"))) == 1
    bad, _ = _score([vtest, *common, "--device", "cuda:99"], gpu_env, tmp_path / "bad")
    errors = [line for line in bad.stderr.splitlines() if line.startswith("vad: error:")]
    assert bad.returncode == 2 and len(errors) == 1 and "cuda:99" in errors[0]
    pytest.importorskip("ray.data")
    ray, b = _score([vtest, megamind, *common, "--engine", "ray"], gpu_env, tmp_path / "ray")
    assert ray.returncode == 0, ray.stderr[-2000:]
    assert b.keys() == {"vtest", "Megamind"}
    assert len(list(cache.glob("embeddings/*/*.npz"))) == 2  # vtest reused: same precision
    assert len(b["Megamind"]["scores"]) == b["Megamind"]["num_frames"] > 0

"""Devices and the GPU path, shown on a CPU: device strings parsed and checked once (flags,
presets, the Python API, Ray), the Ray engine's GPU arithmetic, and the driver of
``vad eval --engine ray`` keeping its model on the CPU. The same behaviour on a real GPU:
tests/test_cuda.py (skipped without one)."""

from __future__ import annotations

import logging

import pytest
from conftest import make_timm_model_dir, run_vad

from vad.devices import Device, DeviceError, check_available, parse_device
from vad.errors import UsageError


@pytest.mark.parametrize(
    ("text", "expected"),
    [("auto", Device("auto")), ("cpu", Device("cpu")), ("cuda", Device("cuda")),
     ("cuda:0", Device("cuda", 0)), ("cuda:12", Device("cuda", 12))],
)  # fmt: skip
def test_device_strings_that_parse(text, expected):
    assert parse_device(text) == expected
    assert str(parse_device(text)) == text


@pytest.mark.parametrize("text", ["cuda0", "gpu", "CUDA", "cuda:", "cuda:-1", "cpu:0", " cpu", ""])
def test_malformed_device_strings_are_usage_errors_listing_the_allowed_forms(text):
    with pytest.raises(DeviceError) as caught:
        parse_device(text)
    assert isinstance(caught.value, UsageError) and isinstance(caught.value, ValueError)
    assert "auto, cpu, cuda or cuda:N" in str(caught.value)


def test_a_gpu_that_is_not_there_is_named_with_the_ones_that_are():
    assert check_available("cuda:1", 2) == Device("cuda", 1)
    assert check_available("cpu", 0) == Device("cpu")
    with pytest.raises(DeviceError, match=r"'cuda:7'.* 2 CUDA GPUs \(cuda:0 to cuda:1\)"):
        check_available("cuda:7", 2)
    with pytest.raises(DeviceError, match=r"'cuda'.*no CUDA GPU is visible.*use auto or cpu"):
        check_available("cuda", 0)


def test_a_bad_device_flag_is_one_line_and_exit_2_before_any_work(tmp_path, vtest):
    rc, out, err = run_vad(["score", str(vtest), "--device", "cuda0", "--out", str(tmp_path)])
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "--device" in err and "cuda:N" in err
    assert not any(tmp_path.iterdir())


def test_a_bad_device_in_a_preset_names_the_file_and_the_key(tmp_path, vtest):
    preset = tmp_path / "gpu.yaml"
    preset.write_text("device: gpu\n")
    rc, _, err = run_vad(["score", str(vtest), "--config", str(preset), "--out", str(tmp_path)])
    assert rc == 2 and err.count("\n") == 1
    assert str(preset) in err and "'device'" in err and "cuda:N" in err


def test_the_python_api_refuses_a_bad_device_when_the_detector_is_made():
    from vad.pipeline import Detector

    with pytest.raises(ValueError, match="cuda:N"):
        Detector(device="cuda0")


# -- the Ray engine's GPU arithmetic (no Ray needed) ----------------------------------------------


class Cluster:
    """What the Ray engine reads of a cluster."""

    def __init__(self, **resources):
        self.resources = resources

    def cluster_resources(self):
        return dict(self.resources)


@pytest.mark.parametrize(
    ("gpus", "per_worker", "workers"),
    [(1.0, 0.1, 10), (3.0, 0.3, 10), (1.0, 0.5, 2), (2.0, 1.0, 2), (1.0, 0.7, 1), (0.0, 1.0, 1)],
)
def test_fractional_gpus_per_actor_give_the_exact_number_of_actors(gpus, per_worker, workers):
    from vad.engines.ray.cluster import default_workers

    assert default_workers(Cluster(GPU=gpus, CPU=8), per_worker, 1.0) == workers


def test_ten_actors_of_a_tenth_of_a_gpu_fit_on_one_gpu_without_a_warning(caplog):
    from vad.engines.ray.cluster import _fit

    with caplog.at_level(logging.WARNING, logger="vad"):
        _fit(Cluster(GPU=1.0, CPU=16), workers=10, gpus=0.1, cpus=1.0)
        assert not caplog.records
        _fit(Cluster(GPU=1.0, CPU=16), workers=11, gpus=0.1, cpus=1.0)
    assert "need 1.1 GPUs" in caplog.text


def test_cpu_actors_hold_no_gpu_even_where_the_cluster_has_gpus():
    from vad.engines.ray.cluster import default_gpus_per_worker

    assert default_gpus_per_worker({"GPU": 4.0}, "cpu") == 0.0
    assert default_gpus_per_worker({"GPU": 4.0}, "auto") == 1.0
    assert default_gpus_per_worker({"GPU": 4.0}, "cuda") == 1.0
    assert default_gpus_per_worker({}, "auto") == 0.0


def test_ray_actors_device_checks():
    from vad.engines.ray.cluster import RayEngineError
    from vad.engines.ray.plan import actors_device

    assert actors_device("auto", 0.0) == "cpu" and actors_device("auto", 0.5) == "cuda"
    assert actors_device("cpu", 0.0) == "cpu" and actors_device("cuda", 1.0) == "cuda"
    with pytest.raises(RayEngineError, match="sees as cuda:0"):
        actors_device("cuda:1", 1.0)
    with pytest.raises(RayEngineError, match="never use"):
        actors_device("cpu", 1.0)
    with pytest.raises(RayEngineError, match="--num-gpus-per-worker"):
        actors_device("cuda", 0.0)


@pytest.mark.parametrize(
    ("argv", "says"),
    [(["--device", "cuda:1"], "sees as cuda:0"),
     (["--device", "cpu", "--num-gpus-per-worker", "1"], "never use"),
     (["--num-gpus-per-worker", "0.00001"], "at least 0.0001")],
)  # fmt: skip
def test_ray_device_problems_are_one_usage_line_before_ray_starts(
    argv, says, monkeypatch, tmp_path, vtest
):
    import vad.engines.ray.run

    def no_ray(address):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(vad.engines.ray.run, "connect", no_ray)
    rc, _, err = run_vad(["score", str(vtest), "--engine", "ray", "--out", str(tmp_path), *argv])
    assert rc == 2 and err.count("\n") == 1 and says in err


def test_auto_precision_of_gpu_actors_is_asked_of_a_gpu_of_the_cluster():
    """The driver may have no GPU, or another kind: a one-off task holding a GPU (at most one,
    whatever the actors hold) answers."""
    from vad.engines.ray.probe import _gpu_precision, cuda_auto_precision

    asked = {}

    class Ray:
        def is_initialized(self):
            return True

        def remote(self, **options):
            asked.update(options)
            return lambda fn: type("Task", (), {"remote": staticmethod(lambda: "bf16")})()

        def get(self, value):
            return value

    assert _gpu_precision(Ray(), 0.25) == "bf16"
    assert asked["num_gpus"] == 0.25 and asked["num_cpus"] == 0 and asked["max_calls"] == 1
    _gpu_precision(Ray(), 2.0)
    assert asked["num_gpus"] == 1.0
    assert callable(cuda_auto_precision)


def test_eval_on_ray_with_gpu_actors_keeps_the_drivers_model_on_the_cpu(
    monkeypatch, tmp_path, vtest, tiny_model
):
    """``vad eval --engine ray --device cuda`` on a head node without a GPU: the driver's model
    (texts only) loads on the CPU in fp32; the actors are asked for CUDA."""
    import vad.engines.ray.run

    seen = {}

    class Engine:
        def __init__(self, settings, **options):
            seen.update(settings=settings, encoder=options["encoder"])

        def run(self, paths, *, keep_embeddings=False):
            return iter(())

        def close(self):
            pass

    monkeypatch.setattr(vad.engines.ray.run, "RayEngine", Engine)
    annotations = tmp_path / "a.csv"
    annotations.write_text("video,start_frame,end_frame\nvtest.avi,10,20\n")
    argv = ["eval", "--dataset", "csv", "--annotations", str(annotations), "--videos",
            str(vtest.parent), "--model", tiny_model, "--engine", "ray", "--device", "cuda",
            "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c")]  # fmt: skip
    rc, _, err = run_vad(argv)
    assert seen["encoder"].device.type == "cpu" and seen["encoder"].precision == "fp32"
    assert seen["settings"]["device"] == "cuda"
    assert rc == 1 and "could be scored" in err  # the stand-in engine scored nothing


# -- the encoder on a GPU, shown on a CPU (fakes for what only a GPU has) -------------------------


def test_the_encoder_checks_a_gpus_number_against_the_gpus_there_are(monkeypatch):
    import torch

    from vad.model.encoder import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    assert resolve_device("auto") == torch.device("cuda")
    with pytest.raises(DeviceError, match=r"cuda:0 to cuda:1"):
        resolve_device("cuda:7")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve_device("cuda")


@pytest.mark.parametrize(
    ("capability", "expected"), [((9, 0), "bf16"), ((8, 0), "bf16"), ((7, 5), "fp16")]
)
def test_auto_precision_on_a_gpu_is_bf16_where_the_gpu_does_it_natively(
    monkeypatch, capability, expected
):
    import torch

    from vad.model.encoder import resolve_precision

    asked = []

    def get_device_capability(index):
        asked.append(index)
        return capability

    monkeypatch.setattr(torch.cuda, "get_device_capability", get_device_capability)
    assert resolve_precision("auto", torch.device("cuda:1")) == expected
    assert asked == [1]
    assert resolve_precision("fp16", torch.device("cuda:1")) == "fp16"
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"


def test_building_an_encoder_leaves_the_cuda_generators_alone(monkeypatch, tiny_model):
    """Random weights are seeded (the same every run) on the CPU generator, which is restored
    afterwards; a GPU's generators, which the user's own code may have seeded, are untouched."""
    import torch

    from vad.model.encoder import ClipEncoder

    reseeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: reseeded.append(seed))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: reseeded.append(seed))
    before = torch.random.get_rng_state()
    ClipEncoder(tiny_model, None, device="cpu")
    assert reseeded == [] and torch.equal(torch.random.get_rng_state(), before)


def test_a_timm_model_cast_to_half_keeps_its_checkpoints_logit_scale(tmp_path):
    """open_clip casts timm-based models (PE-Core, SigLIP 2, MobileCLIP 2) to bf16/fp16 whole,
    logit_scale included: bf16 would turn ln(100) into 4.594 (a 1.1 % smaller scale)."""
    import torch

    from vad.model.encoder import load_openclip

    folder = make_timm_model_dir(tmp_path, logit_scale=4.6052)
    model, _, _ = load_openclip(f"local-dir:{folder}", None, torch.device("cpu"), "bf16")
    assert model.visual.trunk.patch_embed.proj.weight.dtype == torch.bfloat16  # cast as before
    assert model.logit_scale.dtype == torch.float32
    assert model.logit_scale.item() == torch.tensor(4.6052).item()


def test_a_gpu_batch_is_collected_by_waiting_on_its_own_copy_only(monkeypatch):
    """The embeddings are copied back without blocking (a blocking ``.cpu()`` would wait for
    the next batch's kernels, queued behind it): collecting waits on this copy's event."""
    import numpy as np
    import torch

    from vad.model.encoder import _HostCopy

    events = []

    class Event:  # what a CUDA event does, in order
        def __init__(self):
            self.recorded = self.waited = False
            events.append(self)

        def record(self):
            self.recorded = True

        def synchronize(self):
            assert self.recorded
            self.waited = True

    monkeypatch.setattr(torch.cuda, "Event", Event)
    feats = torch.randn(4, 8)
    pending = _HostCopy(feats)
    assert len(events) == 1 and events[0].recorded and not events[0].waited
    out = pending.result()
    assert events[0].waited and np.array_equal(out, feats.numpy())


def _three_videos(tmp_path, vtest):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.avi", "b.avi", "c.avi"):
        (folder / name).symlink_to(vtest)
    return folder


@pytest.mark.parametrize("fault", ["out of memory", "nan"])
def test_an_encoder_that_cannot_run_stops_the_run_with_one_line(
    fault, monkeypatch, tmp_path, vtest, tiny_model
):
    """Out of memory (or NaN embeddings) on the first batch: one line saying what to change and
    exit 2, not the same failure once per remaining video."""
    import open_clip
    import torch

    calls = []

    def encode_image(self, x, normalize=False):
        calls.append(len(x))
        if fault == "nan":
            return torch.full((len(x), 64), float("nan"))
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(open_clip.CLIP, "encode_image", encode_image)
    argv = [
        "score",
        str(_three_videos(tmp_path, vtest)),
        "--model",
        tiny_model,
        "--no-cache",
        "--out",
        str(tmp_path / "out"),
        "--batch-size",
        "8",
        "--runtime",
        "torch",
    ]  # fmt: skip  (the GPU's runtime)
    rc, _, err = run_vad(argv)
    lines = [line for line in err.splitlines() if line.startswith("vad: error:")]
    assert rc == 2 and len(lines) == 1, err  # (besides the tiny model's random-weights note)
    if fault == "nan":
        assert "non-finite" in lines[0]
    else:
        assert "ran out of memory" in lines[0] and "--batch-size" in lines[0]
    assert len(calls) <= 2  # the first batches of the first video (one queued ahead), no more
    assert not list((tmp_path / "out").glob("*.json"))


def test_an_actor_that_cannot_run_stops_the_ray_run(tmp_path):
    """On Ray the actor's out-of-memory comes back as a row; the driver stops the run on it."""
    pytest.importorskip("ray.data")
    from pathlib import Path

    from vad.engines.ray.rows import _row
    from vad.engines.ray.run import _Run
    from vad.errors import EncoderFailure

    run = _Run.__new__(_Run)
    run.paths = [Path("a.mp4"), Path("b.mp4")]
    run.planned = {0: {"num_segments": 2}, 1: {"num_segments": 1}}
    run.plan = type("Plan", (), {"segment_s": 60.0, "decode_in_actor": True})()
    oom = "the GPU (cuda:0) ran out of memory encoding a batch of 32 frames"
    rows = [_row({"index": 0, "path": "a.mp4", "segment": 0}, error=oom, meta='{"fatal": true}')]
    run._rows = lambda items, build: iter(rows)
    with pytest.raises(EncoderFailure, match="ran out of memory"):
        list(run.segments(workers=1, gpus=1.0, cpus=1.0))

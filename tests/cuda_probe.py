"""Facts about the GPU path that only a real GPU can give, gathered in one process that sees
the GPUs (tests/test_cuda.py runs it with ``gpu_env`` and asserts on what it prints):

    python tests/cuda_probe.py TINY_MODEL_DIR TIMM_MODEL_DIR    # one JSON object on stdout

Not a test module itself: the test suite's own process never sees a GPU (tests/conftest.py).
"""

from __future__ import annotations

import json
import sys

import numpy as np


def probe(tiny: str, timm: str) -> dict:
    import torch

    from vad.devices import DeviceError
    from vad.errors import EncoderFailure
    from vad.model.encoder import ClipEncoder, resolve_device, resolve_precision
    from vad.pipeline import encode_pixels

    facts: dict = {"gpus": torch.cuda.device_count(), "name": torch.cuda.get_device_name(0)}
    facts["capability"] = list(torch.cuda.get_device_capability(0))
    # torch's own answer, to hold ours against
    facts["torch_bf16_native"] = torch.cuda.is_bf16_supported(including_emulation=False)
    facts["auto_precision"] = resolve_precision("auto", torch.device("cuda"))
    try:
        resolve_device(f"cuda:{facts['gpus']}")
        facts["gpu_past_the_last"] = None
    except DeviceError as exc:
        facts["gpu_past_the_last"] = str(exc)

    # the user's CUDA generators, seeded by them, are left alone by building an encoder
    torch.cuda.manual_seed_all(1234)
    before = torch.cuda.get_rng_state()
    gpu = ClipEncoder(f"local-dir:{tiny}", None, device="cuda", precision="auto")
    facts["cuda_rng_untouched"] = bool(torch.equal(before, torch.cuda.get_rng_state()))
    facts["encoder_precision"] = gpu.precision

    # embeddings agree with the CPU's fp32 ones, and are finite
    cpu = ClipEncoder(f"local-dir:{tiny}", None, device="cpu")
    rng = np.random.default_rng(0)
    h, w = gpu.preprocess.size
    batches = [rng.integers(0, 256, (16, 3, h, w), dtype=np.uint8) for _ in range(4)]
    on_gpu = encode_pixels(gpu, iter(batches))
    on_cpu = encode_pixels(cpu, iter(batches))
    facts["min_cos_to_cpu_fp32"] = float((on_gpu * on_cpu).sum(axis=1).min())
    facts["finite"] = bool(np.isfinite(on_gpu).all())

    # one batch queued ahead: collecting batch A returns while later work still runs (a
    # ~1 s sleep kernel, then batch B); a blocking .cpu() would wait for all of it
    first = gpu.submit_pixels(batches[0])
    torch.cuda._sleep(2_000_000_000)  # GPU clock cycles
    slept = torch.cuda.Event()
    slept.record()
    second = gpu.submit_pixels(batches[1])
    got = gpu.collect(first)
    facts["collect_waited_for_later_work"] = bool(slept.query())
    gpu.collect(second)
    facts["overlap_same_values"] = float(np.abs(got - on_gpu[:16]).max())

    # a timm-based model cast to bf16 keeps its checkpoint's logit scale (4.6052: exp = 100.0)
    timm_model = ClipEncoder(f"local-dir:{timm}", None, device="cuda", precision="bf16")
    facts["timm_logit_scale"] = timm_model.logit_scale

    # out of memory: one clear error naming the batch size, not a traceback per video
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    allowed = torch.cuda.memory_reserved() + 256 * 2**20
    torch.cuda.set_per_process_memory_fraction(allowed / total)
    try:
        gpu.collect(gpu.submit_pixels(np.zeros((65536, 3, h, w), np.uint8)))
        facts["out_of_memory"] = None
    except EncoderFailure as exc:
        facts["out_of_memory"] = str(exc)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    return facts


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1], sys.argv[2])))

"""Shared fixtures.

- ``videos_dir``: the real sample videos (``$VAD_TEST_VIDEOS``, set by ``.ci/run``; else
  ``../shared/videos`` beside the checkout); tests that need them skip with a reason when absent.
- ``tiny_model``: a tiny random OpenCLIP model in a ``local-dir:`` folder, made once per session.
- ``StandInEncoder``: a deterministic encoder whose text embeddings are bags of random word
  vectors, so a test can place a "frame" exactly on the embedding of a description.
- ``gpu_env``: the environment under which a process sees this machine's GPUs (tests marked
  ``cuda``, tests/test_cuda.py; skipped where there is none).

The suite runs on the CPU, in fp32, wherever it runs: this file hides every GPU from this
process and from everything it starts (``vad`` subprocesses, Ray's workers) before anything
touches CUDA, so a test that leaves the device at ``auto`` cannot silently run on a GPU in half
precision. The GPU path is tested by tests/test_cuda.py, in processes given ``gpu_env``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from vad.model.preprocess import Preprocess

# importing torch does not start CUDA: hiding the GPUs here still holds for this process
GPU_ENV = {k: os.environ[k] for k in ("CUDA_VISIBLE_DEVICES",) if k in os.environ}
os.environ["CUDA_VISIBLE_DEVICES"] = ""

REPO = Path(__file__).resolve().parent.parent


def _videos_dir() -> Path | None:
    env = os.environ.get("VAD_TEST_VIDEOS")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "videos")
    for c in candidates:
        if (c / "vtest.avi").is_file():
            return c
    return None


@pytest.fixture(scope="session")
def videos_dir() -> Path:
    found = _videos_dir()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("VAD_TEST_VIDEOS is not set to a folder holding vtest.avi (CI needs it)")
        pytest.skip("sample videos not found: set VAD_TEST_VIDEOS to a folder with vtest.avi")
    return found


@pytest.fixture(scope="session")
def vtest(videos_dir) -> Path:
    return videos_dir / "vtest.avi"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """``local-dir:`` spec of a tiny random OpenCLIP model (64 px, 64-d embeddings)."""
    from vad.testing import make_tiny_model_dir

    folder = make_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"))
    return f"local-dir:{folder}"


def make_timm_model_dir(folder: Path, logit_scale: float = 4.6052) -> Path:
    """A tiny random timm-based OpenCLIP model (as PE-Core, SigLIP 2 and MobileCLIP 2 are:
    open_clip casts those to half precision whole) in a ``local-dir:`` folder, with the given
    ``logit_scale`` in its checkpoint (4.6052 = ln 100: not a bf16 or fp16 number)."""
    import json

    import open_clip
    import torch
    from safetensors.torch import save_file

    cfg = {"embed_dim": 32,
           "vision_cfg": {"timm_model_name": "vit_tiny_patch16_224", "timm_pool": "avg",
                          "timm_model_pretrained": False, "timm_proj": "linear", "image_size": 32},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2,
                        "layers": 1}}  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in open_clip.CustomTextCLIP(**cfg).state_dict().items()}
    state["logit_scale"] = torch.tensor(logit_scale)
    save_file(state, str(folder / "open_clip_model.safetensors"))
    config = {"model_cfg": {**cfg, "custom_text": True}, "preprocess_cfg": {}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture()
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


STOP_WORDS = {"a", "an", "the", "of", "in", "on", "at", "to", "and", "with", "by", "into", "from"}


class StandInEncoder:
    """Deterministic stand-in for ClipEncoder.

    Text: the normalised sum of fixed random vectors, one per content word, so texts sharing
    words are similar. Images: a frame whose pixels all equal ``k`` encodes to
    ``image_table[k]`` (set by the test), so synthetic videos can show chosen "content".
    """

    model_name = "stand-in"
    pretrained = "none"
    pretrained_label = "none"
    random_weights = False
    cacheable = False  # never cached
    logit_scale = 100.0

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.image_table: dict[int, np.ndarray] = {}
        self.preprocess = Preprocess(size=(16, 16), mean=(0.0,) * 3, std=(1.0,) * 3)
        self.text_calls = 0

    def word(self, w: str) -> np.ndarray:
        seed = int(hashlib.sha256(w.encode()).hexdigest()[:8], 16)
        return np.random.default_rng(seed).standard_normal(self.dim)

    def encode_text(self, texts: list[str]) -> np.ndarray:
        self.text_calls += 1
        out = []
        for t in texts:
            words = [w.strip(".,") for w in t.lower().split()]
            v = sum((self.word(w) for w in words if w and w not in STOP_WORDS), np.zeros(self.dim))
            out.append(v / max(np.linalg.norm(v), 1e-12))
        return np.asarray(out, dtype=np.float32)

    def encode_images(self, pixels) -> np.ndarray:
        # pixels were normalised with mean 0, std 1: value k/255 -> key k
        keys = np.rint(np.asarray(pixels)[:, 0, 0, 0] * 255).astype(int)
        return np.stack([self.image_table[int(k)] for k in keys]).astype(np.float32)

    def encode_frames(self, frames: np.ndarray) -> np.ndarray:
        return self.encode_images(self.preprocess(frames))

    def identity(self) -> dict:
        return {"model": "stand-in", "pretrained": "none", "preprocess": "x", "precision": "fp32"}


@pytest.fixture()
def stand_in() -> StandInEncoder:
    return StandInEncoder()


@pytest.fixture(autouse=True, scope="session")
def _isolated_user_cache(tmp_path_factory):
    """Keep tests out of the user's real cache (~/.cache/vad); OpenVINO exports are shared by
    the whole session (keyed by content, so sharing is safe): each is made once."""
    saved = {k: os.environ.get(k) for k in ("VAD_CACHE_DIR", "VAD_EXPORT_DIR")}
    os.environ["VAD_CACHE_DIR"] = str(tmp_path_factory.mktemp("user-cache"))
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's workers share one (an export is written atomically)
    exports = root / "exports"
    exports.mkdir(exist_ok=True)
    os.environ["VAD_EXPORT_DIR"] = str(exports)
    yield
    for key, old in saved.items():
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


@pytest.fixture(scope="session")
def gpu_env() -> dict[str, str]:
    """``os.environ`` with the GPUs visible again, for a subprocess that tests the GPU path;
    skips the test where no CUDA GPU is there (asked in such a subprocess, once)."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env.update(GPU_ENV)
    if not Path("/proc/driver/nvidia").exists() and "CUDA_VISIBLE_DEVICES" not in GPU_ENV:
        pytest.skip("no NVIDIA driver on this machine: the GPU path is not tested here")
    probe = "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)"
    found = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300
    )
    if found.returncode != 0 or not found.stdout.strip().isdigit():
        pytest.fail(f"cannot ask torch for GPUs: {found.stderr.strip()[-300:]}")
    if int(found.stdout) < 1:
        pytest.skip("torch sees no CUDA GPU here: the GPU path is not tested")
    return env


def run_vad(argv: list[str], catch_exit: bool = True) -> tuple[int, str, str]:
    """``vad ARGV`` in this process: (exit status, stdout, stderr). With ``catch_exit`` an
    argparse exit (status 2 for a bad option) is the status; otherwise it propagates."""
    import contextlib
    import io

    from vad.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:
            if not catch_exit:
                raise
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()

"""The isolated decode worker: same frames as in-process decoding, bounded, and a hung or
broken input costs one video, not the batch."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vad.media.frames import VideoError
from vad.media.sampler import FrameSampler
from vad.media.worker import DecodeWorker
from vad.model.preprocess import Preprocess

PRE = Preprocess(size=(32, 32), mean=(0.5,) * 3, std=(0.25,) * 3)


def decode_all(worker, path):
    video, batches = worker.stream(path)
    got = list(batches)
    return video, got


def test_process_and_thread_decoding_agree(vtest):
    sampler = FrameSampler(sample_fps=1.0, batch_size=16)
    with DecodeWorker(sampler, PRE, isolate=True) as proc_worker:
        pv, pb = decode_all(proc_worker, vtest)
    tv, tb = decode_all(DecodeWorker(sampler, PRE, isolate=False), vtest)
    assert pv.num_decoded == tv.num_decoded == 795
    assert pv.fps == tv.fps == 10.0
    np.testing.assert_array_equal(np.concatenate([b.indices for b in pb]), np.arange(0, 795, 10))
    np.testing.assert_array_equal(
        np.concatenate([b.pixels for b in pb]), np.concatenate([b.pixels for b in tb])
    )
    assert pb[0].pixels.dtype == np.uint8 and pb[0].pixels.shape[1:] == (3, 32, 32)
    assert max(len(b.indices) for b in pb) <= 16


def test_hung_decoder_is_abandoned_and_the_next_video_decodes(tmp_path, vtest):
    fifo = tmp_path / "hangs.mp4"
    os.mkfifo(fifo)  # opening a FIFO with no writer blocks inside the native decoder
    worker = DecodeWorker(FrameSampler(sample_fps=0.5), PRE, timeout_s=3.0)
    try:
        t0 = time.monotonic()
        with pytest.raises(VideoError, match=r"hangs\.mp4: decoding timed out"):
            decode_all(worker, fifo)
        assert time.monotonic() - t0 < 30
        video, batches = decode_all(worker, vtest)
        assert video.num_decoded == 795 and batches
    finally:
        worker.close()


class _StallingSampler:
    """A sampler whose decoder makes no progress until ``release`` is set."""

    def __init__(self):
        self.release = threading.Event()

    def open(self, path):
        self.release.wait(60)
        raise VideoError(f"{path}: released")


def test_a_decoding_thread_that_stalls_is_reported(vtest):
    """In-process decoding (the Ray engine's): a stalled decoder costs its video, with the
    local engine's message, and the next video decodes."""
    stalling = _StallingSampler()
    worker = DecodeWorker(stalling, PRE, timeout_s=1.0, isolate=False)
    try:
        with pytest.raises(VideoError, match=r"stalls\.mp4: decoding timed out"):
            decode_all(worker, "stalls.mp4")
        assert worker.stalled
        # the next video must not depend on this machine's speed: only the stall needed 1 s
        worker.timeout_s = 60.0
        worker.sampler = FrameSampler(sample_fps=0.5)
        video, batches = decode_all(worker, vtest)
        assert video.num_decoded == 795 and batches
    finally:
        stalling.release.set()


def test_broken_input_is_an_error_and_the_worker_survives(tmp_path, vtest):
    junk = tmp_path / "junk.avi"
    junk.write_bytes(os.urandom(5000))
    with DecodeWorker(FrameSampler(sample_fps=0.5), PRE) as worker:
        with pytest.raises(VideoError, match=r"junk\.avi"):
            decode_all(worker, junk)
        video, _ = decode_all(worker, vtest)
        assert video.num_decoded == 795


def test_abandoning_a_video_midway_does_not_leak_into_the_next(vtest, videos_dir):
    with DecodeWorker(FrameSampler(sample_fps=5.0, batch_size=8), PRE) as worker:
        _, batches = worker.stream(vtest)
        next(batches)
        batches.close()  # the consumer gives up after one batch
        video, got = decode_all(worker, videos_dir / "Megamind.avi")
        assert video.num_decoded == 270
        assert np.concatenate([b.indices for b in got]).max() < 270


def test_wire_format_round_trip():
    from vad.media.worker import decode_message, encode_message

    pixels = np.arange(2 * 3 * 4 * 5, dtype=np.uint8).reshape(2, 3, 4, 5)
    parts = encode_message(7, ("batch", pixels, np.array([3, 9]), np.array([0.25, 1.5])))
    job, kind, got, idx, times = decode_message(parts[1], parts[3])
    assert (job, kind) == (7, "batch")
    np.testing.assert_array_equal(got, pixels)
    assert idx.tolist() == [3, 9] and times.tolist() == [0.25, 1.5]
    parts = encode_message(2, ("done", 795, ["a warning"]))
    assert decode_message(parts[1], parts[3]) == (2, "done", 795, ["a warning"])


def test_a_worker_that_dies_costs_one_video(vtest):
    """The decoder process dies in the middle of a video (a segfault, an OOM kill): that video
    fails with one line naming it, and the next one decodes in a new worker. One that dies
    between videos costs none: the next video starts a new worker."""
    with DecodeWorker(FrameSampler(sample_fps=None, batch_size=8), PRE) as worker:
        _, batches = worker.stream(vtest)
        next(batches)  # mid-video: 795 frames cannot all be in the pipe already
        worker._proc.kill()
        with pytest.raises(VideoError, match=r"vtest\.avi: the decoder crashed"):
            for _ in batches:
                pass
        video, _ = decode_all(worker, vtest)
        assert video.num_decoded == 795
        worker._proc.kill()
        worker._proc.wait()  # dead before the next video is asked for
        video, _ = decode_all(worker, vtest)
        assert video.num_decoded == 795


def readme_python_example() -> str:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("Python:\n\n```python\n", 1)[1].split("```", 1)[0]
    assert "Detector(" in block and "__main__" not in block
    return block


def test_readme_example_runs_as_a_plain_script_without_a_main_guard(tmp_path, vtest, tiny_model):
    """The README's example pasted into a file as it is (only the weights and the clip swapped
    for what this machine has), empty cache: the user's code runs once, and scores."""
    script = readme_python_example()
    script = script.replace('model="ViT-B-16", pretrained="openai"', f'model="{tiny_model}"')
    script = script.replace('"clip.mp4"', repr(str(vtest)))
    runs = tmp_path / "runs.txt"
    counted = f"open({str(runs)!r}, 'a').write('run\\n')\n" + script
    counted += "print(len(result['scores']), len(again['scores']), emb.num_frames)\n"
    (tmp_path / "example.py").write_text(counted)
    env = {**os.environ, "VAD_CACHE_DIR": str(tmp_path / "empty-cache")}
    proc = subprocess.run(
        [sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.split() == ["795", "795", "795"]
    assert runs.read_text() == "run\n"  # the user's module was not re-imported by a worker


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_worker_is_its_own_program_not_a_multiprocessing_child(vtest):
    with DecodeWorker(FrameSampler(sample_fps=0.5), PRE) as worker:
        decode_all(worker, vtest)
        cmdline = Path(f"/proc/{worker._proc.pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:3] == [b"-m", b"vad.worker"]

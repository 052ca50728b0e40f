"""The isolated decode worker: same frames as in-process decoding, bounded, and a hung or
broken input costs one video, not the batch."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from vad.encoder import Preprocess
from vad.video import FrameSampler, VideoError
from vad.worker import DecodeWorker

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

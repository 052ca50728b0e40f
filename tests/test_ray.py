"""The Ray engine (``vad score --engine ray``) against the local engine, on a local Ray started
here (2 CPUs, one module-scoped session) with the tiny random model.

Skipped when Ray is not installed (``pip install -e ".[ray]"``); the test that ``--engine ray``
says how to install Ray runs everywhere.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from vad.cli import main

BROKEN = "broken.mp4"
MISSING = "missing.mp4"


@pytest.fixture(scope="module")
def ray_session():
    pytest.importorskip("ray.data", reason='Ray is an optional extra: pip install -e ".[ray]"')
    import ray

    if not ray.is_initialized():
        # address="local": a fresh Ray of our own, even where a `ray start` cluster is running
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, videos_dir) -> Path:
    """The sample videos plus a file that is not a video, in one folder."""
    folder = tmp_path_factory.mktemp("inputs")
    for name in ("vtest.avi", "Megamind.avi", "Megamind_bugy.avi"):
        os.symlink(videos_dir / name, folder / name)
    (folder / BROKEN).write_bytes(b"\x00\x00\x00\x18ftypmp42 - but no video follows" * 64)
    return folder


@pytest.fixture(scope="module")
def both_engines(ray_session, inputs, tiny_model, tmp_path_factory):
    """``vad score`` over ``inputs`` plus a missing file (``--list``) with each engine, each with
    its own empty embedding cache: ``{engine: (exit status, folder, stdout, stderr)}``."""
    listing = tmp_path_factory.mktemp("list") / "videos.txt"
    listing.write_text(f"{inputs / MISSING}\n")
    runs = {}
    for engine in ("local", "ray"):
        root = tmp_path_factory.mktemp(engine)
        if engine == "ray":  # the prompt bank's text embeddings are encoded once, not twice
            shutil.copytree(runs["local"][1] / "cache" / "text", root / "cache" / "text")
        argv = ["score", str(inputs), "--list", str(listing), "--model", tiny_model]
        argv += ["--out", str(root / "out"), "--cache-dir", str(root / "cache"), "--engine", engine]
        if engine == "ray":
            argv += ["--workers", "1"]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
        runs[engine] = (rc, root, out.getvalue(), err.getvalue())
    return runs


def _outputs(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}


def _max_score_diff(a: dict, b: dict) -> float:
    diffs = [np.max(np.abs(np.subtract(a[k]["scores"], b[k]["scores"]))) for k in a]
    diffs += [
        np.max(np.abs(np.subtract(a[k]["samples"]["scores"], b[k]["samples"]["scores"]))) for k in a
    ]
    return float(max(diffs))


def test_ray_outputs_equal_the_local_engine(both_engines):
    (rc_local, local, *_), (rc_ray, ray_root, *_) = both_engines["local"], both_engines["ray"]
    assert rc_local == rc_ray == 1  # the broken and the missing file fail, the job finishes
    a, b = _outputs(local / "out"), _outputs(ray_root / "out")
    assert sorted(a) == sorted(b) == ["Megamind", "Megamind_bugy", "vtest"]
    assert _max_score_diff(a, b) <= 1e-4
    for stem in a:
        ra, rb = a[stem], b[stem]
        assert len(rb["scores"]) == rb["num_frames"] == ra["num_frames"]
        for key in set(ra) - {"scores", "samples", "events"}:
            assert ra[key] == rb[key], (stem, key)
        assert ra["samples"]["frames"] == rb["samples"]["frames"]
        assert [(e["start_frame"], e["end_frame"]) for e in ra["events"]] == [
            (e["start_frame"], e["end_frame"]) for e in rb["events"]
        ]
        # the CSVs are written by the same code from the same numbers
        csv_a = (local / "out" / f"{stem}.csv").read_text().splitlines()
        csv_b = (ray_root / "out" / f"{stem}.csv").read_text().splitlines()
        assert len(csv_a) == len(csv_b) == ra["num_frames"] + 1
    assert not list((ray_root / "out").glob(f"{Path(BROKEN).stem}.*"))
    assert not list((ray_root / "out").glob(".*"))  # no temporary files left behind


def test_ray_writes_the_same_cache_entries(both_engines):
    (_, local, *_), (_, ray_root, *_) = both_engines["local"], both_engines["ray"]
    entries_a = sorted(p.name for p in (local / "cache" / "embeddings").rglob("*.npz"))
    entries_b = sorted(p.name for p in (ray_root / "cache" / "embeddings").rglob("*.npz"))
    assert len(entries_a) == 3 and entries_a == entries_b  # same keys: reusable across engines
    for name in entries_a:
        path_a = next((local / "cache").rglob(name))
        path_b = next((ray_root / "cache").rglob(name))
        with np.load(path_a) as za, np.load(path_b) as zb:
            np.testing.assert_allclose(za["embeddings"], zb["embeddings"], atol=1e-5)
            np.testing.assert_array_equal(za["indices"], zb["indices"])
            assert json.loads(str(za["meta"])) == json.loads(str(zb["meta"]))


def test_ray_reports_broken_and_missing_files_like_the_local_engine(both_engines, inputs):
    """Each failure named once on stderr, the same words as the local engine; one summary line
    per scored video on stdout."""
    (_, _, out_local, err_local), (_, _, out_ray, err_ray) = both_engines.values()
    for err in (err_local, err_ray):
        assert err.count(f"vad: error: {inputs / BROKEN}: cannot decode") == 1
        assert err.count(f"vad: error: {inputs / MISSING}: no such file") == 1
        assert "vad: 2 of 5 inputs failed" in err

    def errors(err: str) -> list[str]:
        return sorted(line for line in err.splitlines() if line.startswith("vad: error:"))

    assert errors(err_ray) == errors(err_local) and len(errors(err_ray)) == 2

    def summaries(out: str) -> list[str]:  # without the timing
        return sorted(line.rsplit(",", 1)[0] for line in out.splitlines())

    assert summaries(out_ray) == summaries(out_local) and len(summaries(out_ray)) == 3


def test_eval_on_ray_equals_eval_on_the_local_engine(both_engines, inputs, tiny_model, tmp_path):
    """``vad eval --engine ray``: the same metrics, score files, failures and ablation table,
    from the embeddings the local engine cached (Ray reads that cache as it is)."""
    _, local, *_ = both_engines["local"]
    annotations = tmp_path / "annotations.csv"
    annotations.write_text(
        "video,start_frame,end_frame,label\nvtest.avi,100,300,Fighting\n"
        "Megamind.avi,,,Normal\nMegamind_bugy.avi,50,120,Arson\nbroken.mp4,10,20,Arson\n"
    )
    docs = {}
    for engine in ("local", "ray"):
        out = tmp_path / engine
        argv = ["eval", "--dataset", "csv", "--annotations", str(annotations), "--videos",
                str(inputs), "--out", str(out), "--model", tiny_model, "--no-report",
                "--cache-dir", str(local / "cache"), "--ablate-contexts", "none", "auto",
                "--ablate-windows", "0", "2", "--engine", engine]  # fmt: skip
        assert main(argv) == 1  # the broken file is reported and excluded
        docs[engine] = json.loads((out / "metrics.json").read_text())
        docs[engine]["ablation"] = json.loads((out / "ablation.json").read_text())
        docs[engine]["scores"] = _outputs(out / "scores")
    a, b = docs["local"], docs["ray"]
    assert a["auc"] == pytest.approx(b["auc"], abs=1e-6) and a["ap"] == pytest.approx(b["ap"])
    assert [f["name"] for f in b["failed"]] == ["broken.mp4"] and a["failed"] == b["failed"]
    assert a["videos"] == b["videos"] and a["num_videos"] == b["num_videos"] == 3
    assert a["cache"] == b["cache"] == {"hits": 3, "misses": 0}
    assert _max_score_diff(a["scores"], b["scores"]) <= 1e-4
    assert [r["auc"] for r in a["ablation"]] == pytest.approx([r["auc"] for r in b["ablation"]])


CRASH = {"name": "", "log": ""}


def _die_on(path) -> None:
    """The process dies on one file (a decoder segfault, an out-of-memory kill) and writes one
    line per attempt."""
    if str(path).endswith(CRASH["name"]):
        with open(CRASH["log"], "a") as f:
            f.write("attempt\n")
        os._exit(1)


def _decode_or_die(row, plan):
    """Stands in for ``decode_segment`` (decode tasks, as on GPU clusters)."""
    from vad.engines.ray.decode import decode_segment

    _die_on(row["path"])
    return decode_segment(row, plan)


def _actor_that_dies():
    """Stands in for ``EncodeActor`` decoding its own segments (CPU actors)."""
    from vad.engines.ray.actor import EncodeActor

    class DyingActor(EncodeActor):
        def _decode_and_encode(self, row):
            _die_on(row["path"])
            return super()._decode_and_encode(row)

    return DyingActor


@pytest.mark.parametrize("decode_in_actor", [False, True])
def test_a_video_that_kills_its_worker_is_reported_not_retried_forever(
    ray_session, inputs, tiny_model, tmp_path, monkeypatch, decode_in_actor
):
    import ray.cloudpickle

    import vad.engines.ray.run as engine

    log = tmp_path / "attempts.log"
    monkeypatch.setitem(CRASH, "name", "Megamind_bugy.avi")
    monkeypatch.setitem(CRASH, "log", str(log))
    if decode_in_actor:
        monkeypatch.setattr(engine, "EncodeActor", _actor_that_dies())
    else:
        monkeypatch.setattr(engine, "decode_segment", _decode_or_die)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests
    try:
        paths = [inputs / "Megamind.avi", inputs / "Megamind_bugy.avi"]
        settings = {"model": tiny_model, "use_cache": False, "sample_fps": 1.0}
        outcomes = {
            o.path.name: o
            for o in engine.iter_ray(paths, settings, workers=1, decode_in_actor=decode_in_actor)
        }
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert outcomes["Megamind.avi"].error is None  # the job went on
    error = outcomes["Megamind_bugy.avi"].error
    assert error.startswith(f"{inputs / 'Megamind_bugy.avi'}: a Ray worker died")
    assert log.read_text().count("attempt") == engine.TASK_RETRIES + 1


def test_engine_ray_without_ray_says_how_to_install(monkeypatch, vtest, tiny_model, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    argv = ["score", str(vtest), "--model", tiny_model, "--engine", "ray"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vad: error: --engine ray needs Ray Data")
    assert 'pip install "vad[ray]"' in err


def test_ray_options_need_engine_ray(vtest, tiny_model, capsys):
    assert main(["score", str(vtest), "--model", tiny_model, "--workers", "2"]) == 2
    assert "--workers: only with --engine ray" in capsys.readouterr().err


def test_ray_segments_of_a_long_video_equal_the_local_engine(
    both_engines, inputs, tiny_model, tmp_path
):
    """vtest.avi (79.5 s) as 8 segments of 10 s, decoded by seeking, encoded by the actors and
    stitched back: the local engine's result and cache entry, from one pass over the file."""
    import vad.engines.ray.run as engine

    _, local, *_ = both_engines["local"]
    plan, _ = engine.make_plan({"model": tiny_model, "cache_dir": str(tmp_path)}, 0.0, 10.0)
    planned = engine.plan_video({"index": 0, "path": str(inputs / "vtest.avi")}, plan)
    assert planned["num_segments"] == 8
    shutil.copytree(local / "cache" / "text", tmp_path / "cache" / "text")
    argv = ["score", str(inputs / "vtest.avi"), "--model", tiny_model, "--engine", "ray",
            "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"),
            "--workers", "1", "--segment-s", "10"]  # fmt: skip
    assert main(argv) == 0
    a, b = _outputs(local / "out")["vtest"], _outputs(tmp_path / "out")["vtest"]
    assert _max_score_diff({"v": a}, {"v": b}) <= 1e-4
    assert a["num_frames"] == b["num_frames"] == 795 and a["warnings"] == b["warnings"]
    assert a["samples"]["frames"] == b["samples"]["frames"] and a["context"] == b["context"]
    entries_a = {p.name: p for p in (local / "cache" / "embeddings").rglob("*.npz")}
    (entry_b,) = (tmp_path / "cache" / "embeddings").rglob("*.npz")
    with np.load(entries_a[entry_b.name]) as za, np.load(entry_b) as zb:
        np.testing.assert_allclose(za["embeddings"], zb["embeddings"], atol=1e-5)
        np.testing.assert_array_equal(za["indices"], zb["indices"])
        assert json.loads(str(za["meta"])) == json.loads(str(zb["meta"]))


def test_actors_read_no_bank_file(tiny_model, tmp_path, monkeypatch):
    """A worker node of a remote cluster gets vad's code from Ray, not the checkout's prompts/
    nor the user's bank file: the actor (as Ray unpickles it) uses the bank the driver read."""
    import vad.engines.ray.run as engine
    import vad.model.prompts as prompts
    from vad.engines.ray.actor import EncodeActor

    bank = tmp_path / "vault.yaml"
    bank.write_text(
        'name: vault\ntemplates: ["a photo of {action} {place}."]\n'
        'global_templates: ["a photo of {action}."]\nscene_templates: ["a photo of {scene}."]\n'
        "global: {normal: [people walking], anomalous: [people fighting]}\n"
        "scenes:\n  - {name: vault, scene: a bank vault, place: in a bank vault,\n"
        "     normal: [a clerk counting money], anomalous: [a person running]}\n"
    )
    settings = {"model": tiny_model, "cache_dir": str(tmp_path), "prompts": str(bank)}
    plan, scorer = engine.make_plan(settings, 0.0, 10.0)
    bank.unlink()
    monkeypatch.setattr(prompts, "PROMPTS_DIR", tmp_path / "no-shipped-banks")
    actor = EncodeActor(pickle.loads(pickle.dumps(plan)))
    assert actor.detector.bank.name == "vault"
    assert actor.detector.bank.fingerprint() == scorer.bank.fingerprint()
    assert actor.cacheable  # the same encoder identity as the driver's: its entries are shared


def test_actors_leave_a_cpu_for_decoding():
    """``--workers 2`` on a 2-CPU machine: actors reserving a CPU each would leave none for the
    decode tasks and the job would wait forever; they get half a CPU each instead."""
    from vad.engines.ray.cluster import _fit

    class Cluster:
        def __init__(self, cpus):
            self.cpus = cpus

        def cluster_resources(self):
            return {"CPU": self.cpus}

    assert _fit(Cluster(2), workers=2, gpus=0.0, cpus=1.0) == 0.5
    assert _fit(Cluster(2), workers=1, gpus=0.0, cpus=1.0) == 1.0
    assert _fit(Cluster(16), workers=4, gpus=1.0, cpus=1.0) == 1.0


def test_bad_weights_are_one_usage_error_as_with_the_local_engine(ray_session, vtest, tmp_path):
    """The model is loaded by a Ray task, not the driver: its problem is still one line."""
    errors = {}
    for engine in ("local", "ray"):
        argv = ["score", str(vtest), "--model", "ViT-B-32", "--pretrained", str(tmp_path / "no.pt"),
                "--out", str(tmp_path / engine), "--engine", engine]  # fmt: skip
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert main(argv) == 2
        errors[engine] = [ln for ln in err.getvalue().splitlines() if ln.startswith("vad: ")]
    assert errors["ray"] == errors["local"]
    assert len(errors["ray"]) == 1 and "no.pt' is neither a checkpoint file" in errors["ray"][0]
    assert not (tmp_path / "ray").exists()

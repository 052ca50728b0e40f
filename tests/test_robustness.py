"""Robustness and safety (issue #5): a broken input never stops a batch, nothing is left
half-written, nothing unsafe is loaded.

Most cases run through one in-process ``vad score`` call over a folder mixing good videos and
every kind of broken file (each Detector boots a decode worker process, so calls are few)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_vad
from hypothesis import given, settings
from hypothesis import strategies as st

from vad.cli import main
from vad.files import atomic_write_text
from vad.media.sampler import probe_num_frames
from vad.outputs.naming import output_stems
from vad.outputs.results import is_complete, write_result

MINI_BANK = """
templates: ["a photo of {action} {place}."]
global_templates: ["a photo of {action}."]
scene_templates: ["a photo of {scene}."]
global: {normal: [people walking], anomalous: [people fighting]}
scenes:
  - {name: bank vault, scene: a bank vault, place: in a bank vault,
     normal: [a clerk counting money], anomalous: [a person running]}
  - {name: street, scene: a city street, place: on a city street,
     normal: [a car driving], anomalous: [a car crash]}
"""

NOT_A_VIDEO = "cannot decode: not a video (PyAV, OpenCV and decord cannot open it)"


def movi_offset(data: bytes) -> int:
    """Where an AVI's frame data begins: everything before is header."""
    return data.index(b"movi") + 4


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bank") / "mini.yaml"
    path.write_text(MINI_BANK)
    return path


def score_args(tiny_model, bank, out, cache, *extra) -> list[str]:
    return [
        "score",
        *map(str, extra),
        "--model",
        tiny_model,
        "--prompts",
        str(bank),
        "--sample-fps",
        "0.5",
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
    ]


def error_lines(err: str, path: Path) -> list[str]:
    return [line for line in err.splitlines() if str(path) in line]


def assert_complete_output(out: Path, stem: str, path: Path) -> dict:
    result = json.loads((out / f"{stem}.json").read_text())
    assert result["video"] == str(path)
    assert result["num_frames"] > 0
    assert len(result["scores"]) == result["num_frames"]
    rows = (out / f"{stem}.csv").read_text().splitlines()
    assert len(rows) == result["num_frames"] + 1  # header
    return result


# -- the mixed folder: good files and every kind of broken one --------------------------------


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, videos_dir, tiny_model, bank):
    """One ``vad score`` call over a folder of good and broken files, a FIFO that hangs the
    decoder, and a list file naming missing paths. Returns everything the tests look at."""
    root = tmp_path_factory.mktemp("mixed")
    src = root / "in"
    (src / "sub").mkdir(parents=True)
    (src / "other").mkdir()
    (src / "nested" / "deeper").mkdir(parents=True)
    megamind = (videos_dir / "Megamind.avi").read_bytes()
    vtest = (videos_dir / "vtest.avi").read_bytes()
    good = {
        "good": src / "good.avi",
        "upper": src / "nested" / "deeper" / "UPPER.AVI",  # extensions match in any case
        "sub_clip": src / "sub" / "clip.avi",  # two clip.avi: two outputs
        "other_clip": src / "other" / "clip.avi",  # Megamind cut in the middle
        "bugy": src / "Megamind_bugy.avi",
    }
    for key in ("good", "upper", "sub_clip"):
        good[key].write_bytes(megamind)
    good["other_clip"].write_bytes(megamind[: len(megamind) // 2])
    shutil.copy(videos_dir / "Megamind_bugy.avi", good["bugy"])
    cuts = {}  # truncations of vtest.avi (795 frames) at several points
    for pct in (3, 35, 80):
        cuts[pct] = src / f"vtest_cut{pct:02d}.avi"
        cuts[pct].write_bytes(vtest[: len(vtest) * pct // 100])
    hang = root / "hang.mp4"
    os.mkfifo(hang)  # opening a FIFO with no writer blocks inside the native decoder
    broken = {
        src / "empty.mp4": "empty file",
        src / "random.mp4": NOT_A_VIDEO,
        src / "text.mp4": "not a video (it is a text file)",
        src / "header_only.avi": "no frames could be decoded",
        hang: "decoding timed out",
        root / "missing.mp4": "no such file",
        root / "gone" / "missing2.avi": "no such file",
    }
    (src / "empty.mp4").write_bytes(b"")
    (src / "random.mp4").write_bytes(random.Random(5).randbytes(40_000))
    (src / "text.mp4").write_text("this is a text file renamed to .mp4\n" * 20)
    (src / "header_only.avi").write_bytes(vtest[: movi_offset(vtest)])
    (src / "notes.txt").write_text("not a video extension: ignored\n")
    (src / "old-result.json").write_text("{}")
    listing = root / "list.txt"
    listing.write_text(
        f"# videos to score\n{root / 'missing.mp4'}\n\n{good['good']}\n"  # good: a duplicate
        f"  {root / 'gone' / 'missing2.avi'}  \n"
    )
    out, cache = root / "out", root / "cache"
    argv = score_args(tiny_model, bank, out, cache, src, hang)
    argv += ["--list", str(listing), "--decode-timeout", "3"]
    return {
        "argv": argv,
        "root": root,
        "out": out,
        "good": good,
        "cuts": cuts,
        "broken": broken,
    }


@pytest.fixture(scope="module")
def mixed_run(mixed):
    """Run once with stderr/stdout captured at the file-descriptor level: decoder chatter from
    the worker process would show there too."""
    import tempfile

    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        saved = os.dup(1), os.dup(2)
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(fo.fileno(), 1)
        os.dup2(fe.fileno(), 2)
        real = sys.stdout, sys.stderr
        sys.stdout = os.fdopen(os.dup(1), "w", buffering=1)
        sys.stderr = os.fdopen(os.dup(2), "w", buffering=1)
        t0 = time.monotonic()
        try:
            rc = main(mixed["argv"])
        finally:
            elapsed = time.monotonic() - t0
            sys.stdout.close(), sys.stderr.close()
            sys.stdout, sys.stderr = real
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])
        fo.seek(0), fe.seek(0)
        return {"rc": rc, "out": fo.read(), "err": fe.read(), "seconds": elapsed}


def test_mixed_folder_exit_status_1_and_nothing_else_on_stderr(mixed_run):
    assert mixed_run["rc"] == 1
    err = mixed_run["err"]
    assert "Traceback" not in err
    # no native decoder chatter, no library warnings: only vad's own one-line messages
    assert all(line.startswith("vad: ") for line in err.splitlines()), err
    assert "vad: 7 of 15 inputs failed" in err
    assert mixed_run["seconds"] < 90  # the hung FIFO cost its time limit, not the batch


def test_each_broken_input_is_named_once_with_its_problem(mixed, mixed_run):
    err = mixed_run["err"]
    for path, problem in mixed["broken"].items():
        lines = error_lines(err, path)
        assert len(lines) == 1, (path, err)
        assert lines[0] == f"vad: error: {path}: {problem}" or lines[0].startswith(
            f"vad: error: {path}: {problem} ("
        ), lines[0]
        assert str(path) not in mixed_run["out"]


def test_broken_inputs_leave_no_output(mixed, mixed_run):
    names = sorted(p.name for p in mixed["out"].iterdir())
    assert not any(n.startswith((".", "empty", "random", "text", "header_only", "hang", "missing"))
                   for n in names), names  # fmt: skip
    assert not list(mixed["out"].rglob("*.tmp"))


def test_good_inputs_are_scored_with_unique_names_inside_out(mixed, mixed_run):
    out = mixed["out"]
    stems = {
        "good": "good",
        "upper": "UPPER",
        "sub_clip": "in__sub__clip",
        "other_clip": "in__other__clip",
        "bugy": "Megamind_bugy",
    }
    for key, path in mixed["good"].items():
        result = assert_complete_output(out, stems[key], path)
        assert result["num_frames"] == probe_num_frames(path)
        assert sum(line.startswith(f"{path}: ") for line in mixed_run["out"].splitlines()) == 1
    assert json.loads((out / "in__sub__clip.json").read_text())["num_frames"] == 270
    assert json.loads((out / "in__other__clip.json").read_text())["num_frames"] < 270
    # 5 good + 3 cuts, JSON + CSV each; nothing else (the .txt and .json inputs were ignored)
    assert len(list(out.iterdir())) == 16
    assert all(p.resolve().parent == out.resolve() for p in out.iterdir())


def test_damaged_or_cut_files_score_the_frames_that_decode(mixed, mixed_run):
    for path in mixed["cuts"].values():
        result = assert_complete_output(mixed["out"], path.stem, path)
        decoded = probe_num_frames(path)
        assert 0 < decoded < 795
        # never a score list longer or shorter than the frames decoded
        assert result["num_frames"] == len(result["scores"]) == decoded
        assert result["reported_frames"] == 795
        assert f"decoded {decoded} frames but the header reports 795" in result["warnings"]
        line = next(x for x in mixed_run["out"].splitlines() if x.startswith(f"{path}: "))
        assert "warning: decoded" in line
    cut = json.loads((mixed["out"] / "in__other__clip.json").read_text())
    assert any("header reports 270" in w for w in cut["warnings"])
    bugy = json.loads((mixed["out"] / "Megamind_bugy.json").read_text())
    assert len(bugy["scores"]) == bugy["num_frames"] == probe_num_frames(mixed["good"]["bugy"])


def test_resume_does_only_what_is_missing(mixed, mixed_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(mixed["out"], out)
    (out / "good.json").unlink()  # as if interrupted between good.csv and good.json
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    argv = list(mixed["argv"])
    argv[argv.index("--out") + 1] = str(out)
    proc_err = run_captured(argv + ["--resume"])
    rc, stdout, err = proc_err
    assert rc == 1
    assert "vad: resume: 7 already scored, 8 to do" in err
    # the broken inputs are retried (and named again, once each); good.avi is redone
    for path in mixed["broken"]:
        assert len(error_lines(err, path)) == 1
    assert [line.split(": ")[0] for line in stdout.splitlines()] == [str(mixed["good"]["good"])]
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert set(after) == set(before) | {"good.json"}
    changed = {n for n in before if after[n] != before[n]}
    assert changed == {"good.csv"}
    assert is_complete(out, "good")


def run_captured(argv: list[str]) -> tuple[int, str, str]:
    return run_vad(argv, catch_exit=False)


def run_captured_exit(argv: list[str]) -> tuple[int, str, str]:
    """:func:`run_captured`, where argparse's exit (status 2 for a bad option) is the status."""
    return run_vad(argv)


# -- seeded fuzzing: random truncations and byte flips -------------------------------------------


def fuzzed(data: bytes, rng: random.Random) -> bytes:
    kinds = ["truncate", "truncate_early", "flip", "flip_header", "zero_block", "truncate_flip"]
    kind = rng.choice(kinds)
    buf = bytearray(data)
    if kind in ("truncate", "truncate_flip"):
        buf = buf[: rng.randrange(1, len(buf))]
    if kind == "truncate_early":  # inside the header or the first frames
        buf = buf[: rng.randrange(1, 30_000)]
    if kind in ("flip", "truncate_flip"):
        for _ in range(rng.randint(1, 300)):
            buf[rng.randrange(len(buf))] ^= rng.randrange(1, 256)
    if kind == "flip_header":
        for _ in range(rng.randint(1, 200)):
            buf[rng.randrange(min(len(buf), 8192))] ^= rng.randrange(1, 256)
    if kind == "zero_block":
        start = rng.randrange(len(buf))
        buf[start : start + rng.randint(1, 200_000)] = bytes(min(200_000, len(buf) - start))
    return bytes(buf)


def test_fuzzed_files_end_without_crash_or_hang(tmp_path, videos_dir, tiny_model, bank):
    rng = random.Random(20240605)
    # two codecs: Megamind (MS-MPEG-4, 270 frames) and the first 1.5 MB of vtest (MPEG-4)
    bases = [(videos_dir / "Megamind.avi").read_bytes(), (videos_dir / "vtest.avi").read_bytes()]
    bases[1] = bases[1][:1_500_000]
    src = tmp_path / "fuzz"
    src.mkdir()
    paths = []
    for i in range(24):
        path = src / f"fuzz{i:02d}.avi"
        path.write_bytes(fuzzed(bases[i % 2], rng))
        paths.append(path)
    out = tmp_path / "out"
    argv = score_args(tiny_model, bank, out, tmp_path / "cache", src)
    t0 = time.monotonic()
    rc, stdout, err = run_captured(argv + ["--decode-timeout", "10"])
    assert time.monotonic() - t0 < 100
    assert rc in (0, 1)
    assert "Traceback" not in err
    failed = 0
    for path in paths:
        errors = [line for line in err.splitlines() if line.startswith(f"vad: error: {path}: ")]
        has_output = (out / f"{path.stem}.json").exists()
        assert len(errors) + has_output == 1, (path, errors)  # scored, or named once
        if has_output:
            result = assert_complete_output(out, path.stem, path)
            assert max(result["samples"]["frames"]) < result["num_frames"]
            reported = result["reported_frames"]
            if reported > 0 and abs(result["num_frames"] - reported) > max(1, 0.01 * reported):
                assert any("decoded" in w for w in result["warnings"])
        else:
            failed += 1
            assert not (out / f"{path.stem}.csv").exists()
    assert rc == (1 if failed else 0)
    assert 0 < failed < len(paths)  # the seed makes both kinds: scored and named
    assert not list(out.glob(".*"))


# -- interrupts: Ctrl-C (SIGINT to the process group) and SIGTERM --------------------------------


def live_processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if f"VAD_TEST_RUN={marker}".encode() in env.split(b"\0"):
            found.append(int(pid))
    return found


def open_fifo_for_writing(fifo: Path, proc: subprocess.Popen) -> int:
    """Open ``fifo`` for writing once a reader has opened it: the readiness signal that vad's
    decoder is inside that input (a bounded wait that does not depend on the machine's
    speed: it ends when vad reads or exits)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            time.sleep(0.05)
    raise AssertionError(f"vad never opened {fifo} (exit status {proc.poll()})")


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find leftover workers")
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_stops_cleanly_and_leaves_no_partial_output(
    tmp_path, videos_dir, tiny_model, bank, sig, code
):
    """The signal lands while vad is inside its second input, deterministically: that input is
    a FIFO, and the test waits until vad's decoder has opened it (no sleep, no race with a
    run that finishes first on a fast or slow machine)."""
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(videos_dir / "Megamind.avi", src / "a_first.avi")
    fifo = tmp_path / "b_waits.avi"
    os.mkfifo(fifo)  # its decoder blocks until the test writes, which it never does
    out = tmp_path / "out"
    marker = f"{os.getpid()}-{sig}"
    argv = score_args(tiny_model, bank, out, tmp_path / "cache", src, fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vad", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "VAD_TEST_RUN": marker},
        start_new_session=True,  # its own process group, as a shell gives a job
    )
    writer = None
    try:
        first = proc.stdout.readline()  # one video done
        assert first.startswith(str(src / "a_first.avi")), proc.stderr.read()
        writer = open_fifo_for_writing(fifo, proc)  # the next one is being decoded
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # what Ctrl-C in a terminal does: the whole group
        else:
            proc.send_signal(sig)  # what `kill` or a scheduler does: the main process
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if writer is not None:
            os.close(writer)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith(("vad: interrupted", "vad: terminated"))
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a_first.csv", "a_first.json"], names  # nothing partial, no temporaries
    assert is_complete(out, "a_first")
    deadline = time.monotonic() + 30
    while live_processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not live_processes_with(marker), "the decode worker outlived vad"


# -- atomic writes ----------------------------------------------------------------------------


def test_atomic_write_interrupted_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    atomic_write_text(target, "old")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new " * 100_000)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


RESULT = {"video": "v.avi", "fps": 10.0, "num_frames": 3, "scores": [0.1, 0.2, 0.3]}


def test_interrupted_between_csv_and_json_leaves_neither(tmp_path, monkeypatch):
    import vad.files
    import vad.outputs.results

    real = vad.files.atomic_write_text

    def json_interrupted(path, text):
        if Path(path).suffix == ".json":
            raise KeyboardInterrupt
        real(path, text)

    monkeypatch.setattr(vad.outputs.results, "atomic_write_text", json_interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_result(RESULT, tmp_path, "v")
    assert list(tmp_path.iterdir()) == []


def test_is_complete_needs_both_files_and_a_full_score_list(tmp_path):
    write_result(RESULT, tmp_path, "v")
    assert is_complete(tmp_path, "v")
    (tmp_path / "v.csv").unlink()
    assert not is_complete(tmp_path, "v")
    write_result({**RESULT, "scores": [0.1]}, tmp_path, "short")
    assert not is_complete(tmp_path, "short")
    write_result(RESULT, tmp_path, "garbled")
    (tmp_path / "garbled.json").write_text('{"scores": [0.1, ')
    assert not is_complete(tmp_path, "garbled")


# -- per-input failures that are not decoding problems ------------------------------------------


def test_unexpected_error_in_one_video_is_one_line_and_the_rest_go_on(
    tmp_path, videos_dir, tiny_model, bank, monkeypatch
):
    from vad.cache import VideoEmbeddings
    from vad.pipeline import Detector

    closed = []

    def fake_embed(self, path):
        if "bad" in Path(path).name:
            raise RuntimeError("CUDA error: an illegal memory access\nsecond line")
        if "stop" in Path(path).name:
            raise KeyboardInterrupt
        t = np.arange(5) / 2.0
        emb = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        return VideoEmbeddings(emb, np.arange(5) * 5, t, num_frames=25, fps=10.0)

    monkeypatch.setattr(Detector, "embed", fake_embed)
    monkeypatch.setattr(Detector, "close", lambda self: closed.append(True))
    for name in ("a.avi", "bad.avi", "c.avi", "stop.avi", "d.avi"):
        (tmp_path / name).write_bytes(b"x")
    out = tmp_path / "out"
    argv = score_args(tiny_model, bank, out, tmp_path / "cache")
    rc, stdout, err = run_captured(
        argv + [str(tmp_path / n) for n in ("a.avi", "bad.avi", "c.avi")]
    )
    assert rc == 1
    assert err.strip().splitlines()[-2:] == [
        f"vad: error: {tmp_path / 'bad.avi'}: scoring failed "
        "(RuntimeError: CUDA error: an illegal memory access)",
        "vad: 1 of 3 inputs failed",
    ]
    assert is_complete(out, "a") and is_complete(out, "c") and not (out / "bad.json").exists()
    assert closed
    # KeyboardInterrupt is not a per-video failure: the run stops (exit 130), worker closed
    closed.clear()
    rc, stdout, err = run_captured(argv + [str(tmp_path / n) for n in ("stop.avi", "d.avi")])
    assert rc == 130 and closed and not (out / "d.json").exists()
    assert "interrupted" in err


# -- list files, output folder, option values: usage errors (2) ------------------------------


@pytest.mark.parametrize(
    "make,problem",
    [
        (lambda p: p, "cannot read list file (No such file or directory)"),
        (lambda p: (p.mkdir(), p)[1], "cannot read list file (Is a directory)"),
        (
            lambda p: (p.write_bytes(b"\xff\xfe\x00bad"), p)[1],
            "not a text file (a list file is UTF-8 text)",
        ),
    ],
)
def test_unreadable_list_file_is_a_usage_error(tmp_path, bank, make, problem):
    listing = make(tmp_path / "list.txt")
    rc, stdout, err = run_captured(
        ["score", "--list", str(listing), "--prompts", str(bank), "--out", str(tmp_path / "o")]
    )
    assert rc == 2
    assert err.strip() == f"vad: error: {listing}: {problem}"


def test_usage_errors_exit_2_with_one_line(tmp_path, vtest, bank, tiny_model):
    base = ["score", str(vtest), "--prompts", str(bank), "--model", tiny_model]
    rc, _, err = run_captured(base + ["--decode-timeout", "0", "--out", str(tmp_path)])
    assert rc == 2 and err.startswith("vad: error: --decode-timeout: must be more than 0")
    assert len(err.strip().splitlines()) == 1
    blocker = tmp_path / "file"
    blocker.write_text("")
    rc, _, err = run_captured(base + ["--out", str(blocker / "out")])
    assert rc == 2 and err.strip().startswith(f"vad: error: {blocker / 'out'}: cannot create")
    with pytest.raises(SystemExit) as exc:  # argparse: unknown option
        main(["score", str(vtest), "--decode-timout", "5"])
    assert exc.value.code == 2
    rc, _, err = run_captured_exit(["score", str(vtest), "--sample-fps", "two"])
    assert rc == 2 and err.startswith("vad: error: argument --sample-fps: invalid float value")
    assert len(err.strip().splitlines()) == 1  # no usage block: one line, as every error


def test_decode_timeout_option_and_config_key(tmp_path, vtest):
    from vad.cli import build_parser
    from vad.cli.build import build_detector, detector_settings

    args = build_parser().parse_args(["score", str(vtest), "--decode-timeout", "7.5"])
    assert detector_settings(args)["decode_timeout_s"] == 7.5
    cfg = tmp_path / "c.yaml"
    cfg.write_text("decode_timeout_s: 12\nmodel: ViT-B-32\n")
    args = build_parser().parse_args(["score", str(vtest), "--config", str(cfg)])
    assert build_detector(detector_settings(args)).decode_timeout_s == 12
    cfg.write_text("decode_timeout_s: soon\n")
    rc, _, err = run_captured(["score", str(vtest), "--config", str(cfg)])
    assert rc == 2 and "key 'decode_timeout_s': expected int or float, got 'soon'" in err


# -- output names -----------------------------------------------------------------------------


def test_output_names_stay_unique_and_inside_out(tmp_path):
    paths = [
        Path("/data/cam1/clip.mp4"),
        Path("/data/cam2/clip.mp4"),
        Path("/data/cam2/clip.avi"),
        Path("../../etc/passwd.mp4"),
        Path("/x/.. .mp4"),
        Path("/x/..mp4"),
        Path("/x/$(rm -rf ~).mp4"),
        Path("/x/" + "long" * 100 + ".mp4"),
    ]
    stems = output_stems(paths)
    assert len(set(stems)) == len(stems)
    assert stems[:2] == ["data__cam1__clip", "data__cam2__clip"]
    for stem in stems:
        assert stem and "/" not in stem and not stem.startswith(".") and len(stem) <= 120
        assert (tmp_path / f"{stem}.json").resolve().parent == tmp_path.resolve()


path_parts = st.lists(
    st.text(
        st.characters(exclude_categories=("Cs",), exclude_characters="/\0"),
        min_size=1,
        max_size=12,
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(path_parts, min_size=1, max_size=8))
def test_output_names_property(parts_list):
    paths = [Path("/videos", *parts) for parts in parts_list]
    paths = list(dict.fromkeys(paths))
    stems = output_stems(paths)
    assert len(set(stems)) == len(stems) == len(paths)
    for stem in stems:
        assert stem not in ("", ".", "..") and "/" not in stem and "\0" not in stem
        assert len(stem.encode()) <= 200


# -- safety: checkpoints, YAML, caches ----------------------------------------------------------


class Payload:
    """Unpickling this creates ``path``: proof that loading ran code."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def evil_checkpoint(path: Path, marker: Path) -> Path:
    import torch

    torch.save({"state_dict": {"w": torch.zeros(2)}, "extra": Payload(marker)}, path)
    return path


def test_pickled_checkpoint_with_code_is_refused_not_run(tmp_path, vtest, tiny_model):
    marker = tmp_path / "pwned"
    # --pretrained FILE with a built-in architecture
    evil = evil_checkpoint(tmp_path / "weights.pt", marker)
    argv = ["score", str(vtest), "--out", str(tmp_path / "o"), "--device", "cpu"]
    rc, _, err = run_captured(argv + ["--model", "ViT-S-32", "--pretrained", str(evil)])
    assert rc == 2
    assert err.strip() == (
        f"vad: error: {evil}: refused: it holds a pickled Python object (io.open), not only "
        "tensors, and loading it could run code; use a .safetensors file or a state_dict of "
        "tensors"
    )
    # a local-dir model folder whose weights file is such a pickle
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(Path(tiny_model.removeprefix("local-dir:")) / "open_clip_config.json", folder)
    evil_checkpoint(folder / "open_clip_pytorch_model.bin", marker)
    rc, _, err = run_captured(argv + ["--model", f"local-dir:{folder}"])
    assert rc == 2 and err.strip().startswith(f"vad: error: {folder}: refused: ")
    assert len(err.strip().splitlines()) == 1
    assert not marker.exists()
    assert not list(tmp_path.glob("o/*"))


def test_checkpoint_check_for_older_open_clip(tmp_path):
    import torch

    from vad.model.encoder import BadCheckpoint, check_checkpoint_is_safe

    marker = tmp_path / "pwned"
    with pytest.raises(BadCheckpoint, match="refused: it holds a pickled Python object"):
        check_checkpoint_is_safe(evil_checkpoint(tmp_path / "w.bin", marker))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(random.Random(1).randbytes(3000))
    with pytest.raises(BadCheckpoint, match="not a valid PyTorch checkpoint"):
        check_checkpoint_is_safe(junk)
    torch.save({"w": torch.ones(3)}, tmp_path / "ok.pt")
    check_checkpoint_is_safe(tmp_path / "ok.pt")
    assert not marker.exists()


def test_yaml_is_loaded_safely(tmp_path, vtest):
    marker = tmp_path / "pwned"
    tagged = f"!!python/object/apply:os.system ['touch {marker}']\n"
    for flag, body in (("--config", f"model: {tagged}"), ("--prompts", f"templates: {tagged}")):
        path = tmp_path / f"x{flag}.yaml"
        path.write_text(body)
        rc, _, err = run_captured(["score", str(vtest), flag, str(path)])
        assert rc == 2 and err.startswith(f"vad: error: {path}: invalid YAML")
        assert len(err.strip().splitlines()) == 1
    assert not marker.exists()


@pytest.mark.parametrize(
    "flag,body,problem",
    [
        ("--config", "sample_fps: [2]\n", "key 'sample_fps': expected int or float"),
        ("--config", "colour: red\n", "key 'colour': unknown setting"),
        ("--prompts", MINI_BANK.replace('["a photo of {action} {place}."]', "5"), "got int"),
        ("--prompts", MINI_BANK + "colour: red\n", "key 'colour': unknown key"),
        ("--prompts", MINI_BANK.replace("[people walking]", "[3]"), "global.normal[0]"),
    ],
)
def test_wrong_types_and_unknown_keys_are_usage_errors(tmp_path, vtest, flag, body, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    rc, _, err = run_captured(["score", str(vtest), flag, str(path), "--out", str(tmp_path)])
    assert rc == 2 and err.startswith(f"vad: error: {path}: ") and problem in err
    assert len(err.strip().splitlines()) == 1


def test_cache_files_are_never_unpickled(tmp_path):
    from vad.cache import EmbeddingCache, VideoEmbeddings
    from vad.scoring.text import TextEmbeddings

    marker = tmp_path / "pwned"
    cache = EmbeddingCache(tmp_path / "cache")
    emb = VideoEmbeddings(np.ones((2, 4), np.float32), np.arange(2), np.arange(2.0), 2, 1.0)
    cache.put("k" * 32, emb)
    assert cache.get("k" * 32) is not None
    evil = np.array([Payload(marker)], dtype=object)
    np.savez(cache.path("k" * 32), embeddings=evil, indices=evil, times=evil, meta=evil)
    assert cache.get("k" * 32) is None  # ignored, with a warning, never unpickled
    text = tmp_path / "text.npz"
    np.savez(text, scenes=evil, descriptions=evil, anomalous=evil, scene_index=evil, labels=evil)
    with pytest.raises(ValueError, match="allow_pickle"):
        TextEmbeddings.load(text)
    assert not marker.exists()


def test_outputs_get_ordinary_permissions(tmp_path):
    """Result files get the mode any new file gets (0644 under umask 022), not mkstemp's 0600;
    folders likewise (0755)."""
    old = os.umask(0o022)
    try:
        out = tmp_path / "out" / "nested"
        write_result(RESULT, out, "v")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    for name in ("v.json", "v.csv"):
        assert (out / name).stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o644
    assert out.stat().st_mode & 0o777 == 0o755

"""Real users and hostile inputs (issue 10): paths that cannot be looked at, signals while the
heavy libraries import, a closed stdout, file names with newlines, numeric flags, an empty
output folder, the weights `vad eval` records, help without torch, per-frame progress."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_vad

from vad.cli import main

MINI_BANK = """
templates: ["a photo of {action} {place}."]
global_templates: ["a photo of {action}."]
scene_templates: ["a photo of {scene}."]
global: {normal: [people walking], anomalous: [people fighting]}
scenes:
  - {name: street, scene: a city street, place: on a city street,
     normal: [a car driving], anomalous: [a car crash]}
"""


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bank") / "mini.yaml"
    path.write_text(MINI_BANK)
    return path


@pytest.fixture()
def clip(tmp_path, videos_dir) -> Path:
    path = tmp_path / "good.avi"
    shutil.copyfile(videos_dir / "Megamind.avi", path)
    return path


def base_args(tiny_model, bank, out, cache) -> list[str]:
    return ["--model", tiny_model, "--prompts", str(bank), "--sample-fps", "0.5",
            "--out", str(out), "--cache-dir", str(cache)]  # fmt: skip


def run(argv: list[str]) -> tuple[int, str, str]:
    return run_vad(argv)


# -- 2. path problems: one line each, the batch goes on ------------------------------------------


def test_path_problems_are_one_line_each_and_the_batch_goes_on(
    tmp_path, clip, tiny_model, bank, monkeypatch
):
    root = tmp_path / "in"
    root.mkdir()
    long_name = root / ("x" * 300 + ".avi")  # longer than a file name may be (255 bytes)
    loop = root / "loop.avi"
    loop.symlink_to(root / "loop2.avi")
    (root / "loop2.avi").symlink_to(loop)
    folder = root / "folder"
    (folder / "sub").mkdir(parents=True)
    shutil.copyfile(clip, folder / "sub" / "nested.avi")
    (folder / "up").symlink_to(folder)  # a folder link loop: not followed
    locked = folder / "locked"
    locked.mkdir()
    deep = folder
    for _ in range(300):  # deeper than any real collection
        deep = deep / "d"
    deep.mkdir(parents=True)
    listed = tmp_path / "list.txt"
    listed.write_text(f"{loop}\n{clip}\n")
    locked.chmod(0)
    real_scandir = os.scandir

    def scandir(path="."):  # root ignores permissions: make the locked folder refuse it too
        if str(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    try:
        argv = ["score", str(long_name), str(folder), "--list", str(listed)]
        rc, stdout, err = run(argv + base_args(tiny_model, bank, tmp_path / "out", tmp_path / "c"))
    finally:
        locked.chmod(0o755)
    assert rc == 1 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("vad: error: ")]
    expected = {
        str(long_name): "name too long",
        str(loop): "symbolic link loop",
        str(locked): "permission denied",
        "/d/d/d/d": "folders nested too deep",
    }
    for path, problem in expected.items():
        matching = [e for e in errors if path in e and problem in e.lower()]
        assert len(matching) == 1, (path, problem, errors)
    assert len(errors) == len(expected)
    scored = sorted(line.split(":")[0] for line in stdout.splitlines())
    assert scored == sorted([str(clip), str(folder / "sub" / "nested.avi")])


# -- 3. signals at any moment --------------------------------------------------------------------


def sigterm_handler_installed(pid: int) -> bool:
    """Whether process ``pid`` catches SIGTERM (its SigCgt mask): vad has begun."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def loading_torch(pid: int) -> bool:
    """Whether process ``pid`` has begun importing torch (its native library is mapped)."""
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/PID/status and maps")
@pytest.mark.parametrize("stage", ["start", "importing torch"])
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_at_start_or_while_torch_imports_exits_cleanly(
    tmp_path, clip, tiny_model, bank, sig, code, stage
):
    """The signal is sent as soon as vad has installed its handlers, or as soon as torch's
    native library is loading (the import is under way or just done): wherever it lands, the
    exit is 130/143 with one line and no traceback. Readiness is observed, not slept for."""
    argv = ["score", str(clip), *base_args(tiny_model, bank, tmp_path / "out", tmp_path / "c")]
    ready = sigterm_handler_installed if stage == "start" else loading_torch
    proc = subprocess.Popen(
        [sys.executable, "-m", "vad", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not ready(proc.pid) and proc.poll() is None:
            assert time.monotonic() < deadline, "vad never got there"
            time.sleep(0.002)
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, sig)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith(("vad: interrupted", "vad: terminated"))
    assert not (tmp_path / "out").exists()


# -- 4 and 5. a closed stdout; names with newlines -----------------------------------------------


def test_a_closed_stdout_does_not_stop_the_batch(tmp_path, clip, tiny_model, bank):
    """`vad score ... | head -1`: the reader goes away after the first line. The second input
    is a FIFO, so the test knows vad is past the first line before it closes the pipe."""
    fifo = tmp_path / "b_pipe.avi"
    os.mkfifo(fifo)
    later = [tmp_path / f"c_later{i}.avi" for i in range(2)]
    for path in later:
        shutil.copyfile(clip, path)
    out = tmp_path / "out"
    argv = ["score", str(clip), str(fifo), *map(str, later)]
    argv += base_args(tiny_model, bank, out, tmp_path / "c")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vad", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        first = proc.stdout.readline()
        assert first.startswith(str(clip))
        proc.stdout.close()  # what `head -1` does after its line
        fd = None
        deadline = time.monotonic() + 120
        while fd is None and proc.poll() is None and time.monotonic() < deadline:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.05)
        if fd is not None:
            os.close(fd)  # an empty input: this one fails, the next ones are scored
        stderr = proc.stderr.read()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    for path in [clip, *later]:
        assert (out / f"{path.stem}.json").is_file(), stderr
    assert "stdout was closed" in stderr
    assert proc.returncode == 1  # the FIFO input failed; nothing else did


def test_a_newline_in_a_file_name_stays_on_one_summary_line(tmp_path, clip, tiny_model, bank):
    odd = tmp_path / "two\nlines.avi"
    shutil.copyfile(clip, odd)
    rc, stdout, err = run(
        ["score", str(odd), str(clip), *base_args(tiny_model, bank, tmp_path / "o", tmp_path / "c")]
    )
    assert rc == 0, err
    lines = stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(str(tmp_path / "two\\nlines.avi") + ": ")


# -- 10. numeric flags, one place ----------------------------------------------------------------


@pytest.mark.parametrize(
    "flag,value,problem",
    [
        ("--sample-fps", "nan", "finite"),
        ("--sample-fps", "inf", "finite"),
        ("--sample-fps", "-2", "more than 0"),
        ("--sample-fps", "0", "more than 0"),
        ("--event-threshold", "1.5", "at most 1"),
        ("--event-threshold", "-0.1", "at least 0"),
        ("--event-threshold", "nan", "finite"),
        ("--window", "-1", "at least 0"),
        ("--window", "inf", "finite"),
        ("--context-window", "0", "more than 0"),
        ("--batch-size", "0", "at least 1"),
        ("--decode-timeout", "nan", "finite"),
        ("--context", "", "must not be empty"),
        ("--context", "   ", "must not be empty"),
        ("--model", "", "must not be empty"),
    ],
)
def test_bad_flag_values_are_one_usage_line(tmp_path, clip, flag, value, problem):
    rc, _, err = run(["score", str(clip), "--out", str(tmp_path / "o"), flag, value])
    assert rc == 2
    assert err.startswith(f"vad: error: {flag}: ") and problem in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "body,key", [("sample_fps: .nan\n", "sample_fps"), ("event_threshold: 2\n", "event_threshold"),
                 ("context: ''\n", "context"), ("window_s: -.inf\n", "window_s")],
)  # fmt: skip
def test_bad_preset_values_name_the_file_and_key(tmp_path, clip, body, key):
    preset = tmp_path / "preset.yaml"
    preset.write_text(body)
    rc, _, err = run(["score", str(clip), "--config", str(preset), "--out", str(tmp_path / "o")])
    assert rc == 2 and err.startswith(f"vad: error: {preset}: key '{key}': ")


def test_good_values_pass_the_same_checks():
    from vad.config import check_value

    assert check_value("sample_fps", "2.5") == 2.5
    assert check_value("event_threshold", "0") == 0.0 and check_value("event_threshold", 1) == 1
    assert check_value("window_s", "0") == 0.0
    assert check_value("batch_size", "16") == 16
    assert check_value("context", "a bank vault") == "a bank vault"


# -- 12-14. output folder, eval weights ----------------------------------------------------------


def test_a_run_that_scores_nothing_leaves_no_output_folder(tmp_path, tiny_model, bank):
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video" * 100)
    out = tmp_path / "deeper" / "out"
    rc, _, err = run(["score", str(junk), *base_args(tiny_model, bank, out, tmp_path / "c")])
    assert rc == 1 and "junk.avi" in err
    assert not (tmp_path / "deeper").exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    rc, _, err = run(["score", str(junk), *base_args(tiny_model, bank, blocker / "o", "c")])
    assert rc == 2 and "cannot create the output folder" in err  # still found before any work


def test_eval_records_the_weights_really_used(tmp_path, clip, tiny_model, bank):
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copyfile(clip, videos / "fight.avi")
    shutil.copyfile(clip, videos / "calm.avi")
    annotations = tmp_path / "ann.csv"
    annotations.write_text("video,start_frame,end_frame\nfight.avi,10,50\ncalm.avi,,\n")
    out = tmp_path / "eval"
    argv = ["eval", "--dataset", "csv", "--annotations", str(annotations), "--no-report",
            "--videos", str(videos), *base_args(tiny_model, bank, out, tmp_path / "c")]  # fmt: skip
    rc, _, err = run(argv)
    assert rc == 0, err
    settings = json.loads((out / "metrics.json").read_text())["settings"]
    assert settings["model"] == tiny_model
    assert settings["pretrained"] == "open_clip_model.safetensors"  # not the "openai" default
    scored = json.loads((out / "scores" / "fight.json").read_text())
    assert scored["pretrained"] == settings["pretrained"]


# -- 15. help without the heavy libraries --------------------------------------------------------


def test_parser_help_and_prompts_do_not_import_torch():
    code = (
        "import sys, contextlib, io\n"
        "import vad.cli\n"
        "vad.cli.build_parser()\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    for argv in (['--help'], ['score', '--help'], ['eval', '--help']):\n"
        "        try:\n"
        "            vad.cli.main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        "    assert vad.cli.main(['prompts']) == 0\n"
        "heavy = ('torch', 'open_clip', 'cv2', 'av')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    shown_defaults = [
        "--sample-fps SAMPLE_FPS frames per second to encode, by timestamp (default: 2.0)",
        "(default: 0.5)",
        "(default: auto)",
        "(default: gaussian)",
        "(default: 60)",
        "(default: vad-out)",
        "(default: default)",
        "(default: ViT-B-16)",
    ]
    for shown in shown_defaults:
        assert shown in text, shown


# -- 16. progress per sampled frame --------------------------------------------------------------


def test_progress_bar_counts_sampled_frames_with_a_total(tmp_path, vtest, tiny_model, bank,
                                                         monkeypatch):  # fmt: skip
    import tqdm as tqdm_module

    bars = []

    class Recorder(tqdm_module.tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = False
            super().__init__(*args, **kwargs)
            self.updates: list[float] = []
            bars.append(self)

        def update(self, n=1):
            self.updates.append(n)
            return super().update(n)

    monkeypatch.setattr(tqdm_module, "tqdm", Recorder)
    argv = ["score", str(vtest), *base_args(tiny_model, bank, tmp_path / "o", tmp_path / "c")]
    argv += ["--sample-fps", "2", "--batch-size", "16"]
    rc, _, err = run(argv)
    assert rc == 0, err
    (bar,) = bars
    assert bar.total == 159  # 795 frames at 10 fps, sampled at 2 fps
    assert bar.unit == "frame"
    steps = [n for n in bar.updates if n]
    assert len(steps) >= 159 // 16 and sum(steps) == 159  # batch by batch, not one jump


def test_report_figures_get_ordinary_permissions(tmp_path):
    from vad.evaluation.report import _figure, _save

    old = os.umask(0o022)
    try:
        path = _save(_figure(1, 1), tmp_path / "fig" / "x.png", dpi=10)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644

"""scripts/check_drift.py: CI names the dependencies that moved since the last green set, so a
red run after a release reads as "pyyaml 6.0.3 -> 6.0.4" before anyone reads a traceback."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check_drift.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120
    )


def test_a_moved_and_a_missing_package_are_named(tmp_path):
    numpy = metadata.version("numpy")
    pins = tmp_path / "known-good.txt"
    pins.write_text(f"# pip freeze\nnumpy=={numpy}\nPyYAML==0.0.1\nno-such-package==1.0\n")
    loose = run("--constraints", str(pins))
    assert loose.returncode == 0
    lines = loose.stdout.splitlines()
    assert lines[0].startswith("dependencies: 2 differ")
    assert f"pyyaml 0.0.1 -> {metadata.version('PyYAML')}" in loose.stdout
    assert "no-such-package 1.0 -> not installed" in loose.stdout
    assert "numpy" not in loose.stdout  # unchanged packages are not listed
    assert run("--constraints", str(pins), "--strict").returncode == 1


def test_a_malformed_constraints_file_is_one_line_naming_the_line(tmp_path):
    pins = tmp_path / "known-good.txt"
    pins.write_text("numpy==2.0\nPyYAML>=6\n")
    out = run("--constraints", str(pins))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == f"check_drift: {pins}:2: PyYAML is not pinned with =="


def test_the_shipped_known_good_set_parses_and_pins_what_vad_needs():
    spec = importlib.util.spec_from_file_location("check_drift", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pins = module.read_pins(ROOT / "constraints" / "known-good.txt")
    assert {"torch", "open-clip-torch", "numpy", "pyyaml", "av", "pytest"} <= set(pins)

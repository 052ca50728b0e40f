"""What a user gets from ``pip install .`` without ``-e``: a wheel that carries every module
of ``vad/`` and the shipped prompt banks and presets, which the installed package finds
wherever it is run from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_folder_of_the_package_is_listed():
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "vad").rglob("__init__.py")
    }
    assert folders - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the checkout (the build writes build/ where it runs)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("vad", "prompts", "configs"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         str(src), "-w", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if proc.returncode != 0 and "No module named" in proc.stderr and "setuptools" in proc.stderr:
        pytest.skip("setuptools is not installed in this environment: no wheel to build")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (built,) = out.glob("vad-*.whl")
    return built


def test_the_wheel_carries_the_code_banks_and_presets(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "vad").rglob("*.py")}
    assert modules - names == set()
    banks = {p.relative_to(REPO / "prompts").as_posix() for p in (REPO / "prompts").rglob("*.yaml")}
    assert {
        f"vad/_prompts/{b}" for b in banks
    } <= names and "vad/_prompts/previous/ucf-crime.yaml" in names
    presets = {p.name for p in (REPO / "configs").glob("*.yaml")}
    assert {f"vad/_configs/{c}" for c in presets} <= names and "vad/_configs/nova.yaml" in names


def test_the_installed_package_finds_its_banks_and_presets_from_anywhere(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import json, vad\n"
        "from vad.config import load_config\n"
        "from vad.model.prompts import PromptBank, available_banks\n"
        "bank = PromptBank.from_yaml('ucf-crime')\n"
        "print(json.dumps({'vad': vad.__file__, 'banks': available_banks(),\n"
        "    'classes': len(bank.classes), 'bank': bank.source, 'nova': load_config('nova')}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout)
    assert Path(found["vad"]).is_relative_to(site)  # the installed copy, not the checkout
    assert set(found["banks"]) >= {"default", "ucf-crime", "xd-violence"}
    assert Path(found["bank"]).is_relative_to(site / "vad" / "_prompts")
    assert found["classes"] == 13  # UCF-Crime's classes, read from the wheel's bank
    assert found["nova"]["prompts"] == "ucf-crime" and found["nova"]["head"] == "margin"

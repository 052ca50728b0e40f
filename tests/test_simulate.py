"""scripts/simulate.py: a simulation (not a measurement) that scores synthetic videos with
every recipe through the real scoring code."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "simulate.py"


def load():
    spec = importlib.util.spec_from_file_location("simulate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_json_names_every_recipe_with_an_auc():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--json", "--videos", "6", "--samples", "40"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out)
    recipes = result["recipes"]
    assert {"baseline", "default", "margin", "knn-vote"} <= set(recipes)
    assert all(0.0 <= auc <= 1.0 for auc in recipes.values())
    assert "simulation" in result["note"]


def test_the_per_video_offset_is_what_moves_the_text_centroids():
    sim = load()
    weak = sim.simulate(seed=1, videos=8, samples=40, offset=0.0)
    strong = sim.simulate(seed=1, videos=8, samples=40, offset=4.0)
    closer = "anomalous_centroid_closer_fraction"
    assert strong["simulation"][closer] > weak["simulation"][closer]


def test_baseline_is_the_original_recipe():
    from vad.heads import Scoring

    assert load().RECIPES["baseline"] == Scoring.legacy()
    assert load().RECIPES["default"] == Scoring()

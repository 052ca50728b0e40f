"""Run presets: the shipped ones are valid; bad ones name the file and the key."""

from __future__ import annotations

import pytest

from vad.config import ConfigError, load_config


@pytest.mark.parametrize("name", ["default", "fast", "accurate"])
def test_shipped_presets_are_valid(name):
    cfg = load_config(name)
    assert cfg["model"] and cfg["pretrained"]


def test_default_is_the_literature_baseline_encoder():
    cfg = load_config("default")
    assert (cfg["model"], cfg["pretrained"]) == ("ViT-B-16", "openai")


@pytest.mark.parametrize(
    "text,key",
    [
        ("sample_fps: fast\n", "sample_fps"),
        ("batch_size: 2.5\n", "batch_size"),
        ("modle: ViT-B-32\n", "modle"),
        ("window_s: true\n", "window_s"),
    ],
)
def test_bad_presets(tmp_path, text, key):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and key in str(info.value)


def test_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)

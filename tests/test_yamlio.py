"""Hostile YAML and non-UTF-8 text in the files a user hands vad: one short line naming the
file, before any large structure is built."""

from __future__ import annotations

import pytest

from vad.config import ConfigError, load_config
from vad.model.prompts import PromptBank, PromptBankError
from vad.yamlio import MAX_DEPTH, NotTextError, read_text, safe_load


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs": 9 levels of 9 aliases expand to 9**9 (387 million) strings."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


# What each file must be refused for. ``None``: the refusal itself is the behaviour, its reason
# may come from vad's own check or from the YAML library's (PyYAML >= 6.0.4 caps flow nesting
# in its scanner, before vad's check sees the events), so the test does not pin the wording.
HOSTILE = {
    "bomb": (alias_bomb(), "alias"),
    "deep-flow": ("x: " + "[" * 5000 + "]" * 5000 + "\n", None),
    "deep-block": (
        "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v\n",
        None,
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("kind", ["config", "bank"])
def test_alias_bombs_and_deep_nesting_are_refused_in_one_short_line(tmp_path, case, kind):
    body, problem = HOSTILE[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(body)
    error = ConfigError if kind == "config" else PromptBankError
    with pytest.raises(error) as info:
        load_config(path) if kind == "config" else PromptBank.from_yaml(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid YAML (") and message.endswith(")")
    assert problem is None or problem in message
    assert len(message) < 200 and "\n" not in message


def test_ordinary_aliases_and_nesting_still_load():
    text = "base: &b {x: 1, y: [1, 2]}\nother: *b\n" + "n: " + "[" * 10 + "]" * 10 + "\n"
    data = safe_load(text)
    assert data["other"] == {"x": 1, "y": [1, 2]} and data["base"] is data["other"]
    nested = safe_load("x: " + "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2))
    assert nested["x"] is not None


@pytest.mark.parametrize("kind", ["config", "bank", "annotations"])
def test_a_file_that_is_not_utf8_is_named_in_the_error(tmp_path, kind):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("model: caf\xe9\n".encode("latin-1"))
    if kind == "config":
        with pytest.raises(ConfigError) as info:
            load_config(path)
    elif kind == "bank":
        with pytest.raises(PromptBankError) as info:
            PromptBank.from_yaml(path)
    else:
        from vad.evaluation.datasets import load_annotations

        videos = tmp_path / "videos"
        videos.mkdir()
        path = tmp_path / "Temporal_Anomaly_Annotation.txt"
        path.write_bytes("Arson011_x264.mp4  Arson  150  420  -1  -1 caf\xe9\n".encode("latin-1"))
        with pytest.raises((OSError, ValueError)) as info:
            load_annotations("ucf-crime", path, videos)
    message = str(info.value)
    assert str(path) in message and "not UTF-8" in message and "0xe9" in message


def test_read_text_drops_a_bom_and_names_bad_bytes(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"\xef\xbb\xbfhello")
    assert read_text(path) == "hello"
    path.write_bytes(b"ok\xff")
    with pytest.raises(NotTextError, match=r"x\.txt: not UTF-8 text \(byte 0xff at offset 2\)"):
        read_text(path)

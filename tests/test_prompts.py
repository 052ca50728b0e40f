"""Prompt banks: the shipped data, user edits, and errors that name the file and the key."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from vad.prompts import PromptBank, PromptBankError, available_banks


def test_shipped_banks_load_and_cover_what_they_promise():
    assert {"default", "ucf-crime", "xd-violence"} <= set(available_banks())
    default = PromptBank.from_yaml("default")
    assert len(default.scenes) >= 25
    assert "a person running" in default.find_scene("running track").normal
    assert "a person running" in default.find_scene("a bank vault").anomalous
    # at least two visual phrasings per benchmark class: 13 for UCF-Crime, 6 for XD-Violence
    ucf = PromptBank.from_yaml("ucf-crime").global_anomalous
    xd = PromptBank.from_yaml("xd-violence").global_anomalous
    assert len(ucf) >= 26 and len(xd) >= 12
    for cue in ("arrest", "fire", "explosion", "fight", "robb", "shoot", "shoplift", "vandal"):
        assert cue in " ".join(ucf), cue
    for cue in ("explosion", "fight", "riot", "shoot"):
        assert cue in " ".join(xd), cue


def test_descriptions_compose_action_in_context():
    bank = PromptBank.from_yaml("default")
    descs = bank.scene_descriptions(bank.find_scene("bank vault"))
    running = next(d for d in descs if d.label.startswith("a person running"))
    assert running.anomalous and running.scene == "bank vault"
    assert len(running.texts) == len(bank.templates)
    assert all("a person running" in t and "bank vault" in t for t in running.texts)


def copy_default(tmp_path, edit) -> str:
    data = yaml.safe_load(
        PromptBank.from_yaml("default").source
        and open(PromptBank.from_yaml("default").source).read()
    )
    edit(data)
    path = tmp_path / "bank.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def test_a_user_adds_a_scene_by_editing_yaml(tmp_path):
    def add(data):
        data["scenes"].append(
            {
                "name": "casino floor",
                "scene": "a casino floor",
                "place": "on a casino floor",
                "aliases": ["a casino"],
                "normal": ["people playing cards"],
                "anomalous": ["a person climbing onto a table"],
            }
        )

    bank = PromptBank.from_yaml(copy_default(tmp_path, add))
    assert bank.find_scene("A Casino").name == "casino floor"


@pytest.mark.parametrize(
    "edit,key",
    [
        (lambda d: d.update(colour="blue"), "colour"),
        (lambda d: d.pop("templates"), "templates"),
        (lambda d: d["templates"].append("a frame of {action}"), "templates[5]"),
        (lambda d: d["scenes"][3].update(normal="a person running"), "scenes[3]"),
        (lambda d: d["scenes"][0].pop("place"), "scenes[0].place"),
        (lambda d: d["scenes"][1].update(name=d["scenes"][0]["name"]), "scenes[1]"),
        (lambda d: d["global"].update(anomalous=[]), "global.anomalous"),
        (lambda d: d["scenes"][2]["anomalous"].append(7), "anomalous["),
    ],
)
def test_malformed_bank_names_file_and_key(tmp_path, edit, key):
    path = copy_default(tmp_path, edit)
    with pytest.raises(PromptBankError) as info:
        PromptBank.from_yaml(path)
    assert path in str(info.value) and key in str(info.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("templates: [a\nscenes: {\n")
    with pytest.raises(PromptBankError, match=r"broken\.yaml: invalid YAML .*line"):
        PromptBank.from_yaml(path)


def test_unknown_bank_name_lists_shipped_ones():
    with pytest.raises(PromptBankError, match="shipped: .*default"):
        PromptBank.from_yaml("no-such-bank")


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("!!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(PromptBankError, match="invalid YAML"):
        PromptBank.from_yaml(path)


def test_trimmed_text_encoding_equals_open_clip(tiny_model):
    from vad.encoder import ClipEncoder, _encode_text_trimmed

    enc = ClipEncoder(tiny_model, device="cpu")
    tokens = enc.tokenizer(["a person running in a bank vault.", "hi", "people fighting"])
    with torch.inference_mode():
        full = enc.model.encode_text(tokens)
        trimmed = _encode_text_trimmed(enc.model, tokens)
    np.testing.assert_allclose(trimmed.numpy(), full.numpy(), atol=1e-5)

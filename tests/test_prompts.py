"""Prompt banks: the shipped data, user edits, and errors that name the file and the key."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from vad.model.prompts import PromptBank, PromptBankError, available_banks

FLIP_PHRASES = (
    "a person running",
    "people running",
    "a masked person",
    "a crowd gathering",
    "a person carrying a large bag",
    "a person jumping",
    "a person climbing",
    "a person walking",
    "a car driving",
)


BENCHMARK_BANKS = [f"{b}{v}" for b in ("ucf-crime", "xd-violence") for v in ("", "-b", "-c")]


def test_shipped_banks_load_and_cover_what_they_promise():
    assert {"default", *BENCHMARK_BANKS} <= set(available_banks())
    default = PromptBank.from_yaml("default")
    assert len(default.scenes) >= 25
    for variant in ("", "-b", "-c"):
        ucf = PromptBank.from_yaml(f"ucf-crime{variant}")
        xd = PromptBank.from_yaml(f"xd-violence{variant}")
        assert len(ucf.classes) == 13 and len(xd.classes) == 6
        assert "road accident" in ucf.classes and "riot" in xd.classes
    # the cues of variant a (each variant words them its own way)
    ucf_text = " ".join(PromptBank.from_yaml("ucf-crime").global_anomalous)
    for cue in ("smoke", "muzzle flash", "into a storefront", "parked car"):
        assert cue in ucf_text, cue


@pytest.mark.parametrize("name", BENCHMARK_BANKS)
def test_benchmark_banks_are_balanced_per_class(name):
    bank = PromptBank.from_yaml(name)
    descs = bank.descriptions()
    for cls in bank.classes:
        anomalous = [d for d in descs if d.anomalous and d.cls == cls and d.scene is None]
        normal = [d for d in descs if not d.anomalous and d.cls == cls]
        assert len(anomalous) >= 20, cls  # NOVA's M = 20 per class and side
        assert len(normal) >= 20, cls  # its own normals, 4 of them calm establishing scenes
        assert len(bank.calm[cls]) == len(bank.calm_anchors) == 4, cls
    assert sum(not d.anomalous for d in descs) >= sum(d.anomalous for d in descs)


@pytest.mark.parametrize("name", ["default", *BENCHMARK_BANKS])
def test_shipped_banks_have_calm_normals_and_no_context_free_anomalies(name):
    bank = PromptBank.from_yaml(name)
    descs = bank.descriptions()
    anomalous = [*bank.global_anomalous, *(a for s in bank.scenes for a in s.anomalous)]
    assert not [a for a in anomalous if a in FLIP_PHRASES]
    normal = " ".join(d.label for d in descs if not d.anomalous)
    assert "empty" in normal and "night" in normal
    assert sum(not d.anomalous for d in descs) >= sum(d.anomalous for d in descs)


def test_xd_normals_come_from_its_sources():
    normal = " ".join(PromptBank.from_yaml("xd-violence").global_normal)
    for source in ("concert", "news", "dashcam", "soccer", "video game"):
        assert source in normal, source
    assert "boxing" not in normal  # a look-alike of fighting (NOVA's NA): never a normal


@pytest.mark.parametrize("name", available_banks())
def test_shipped_banks_pass_the_encoder_free_check_for_pe_core(name):
    from vad.scoring.promptlint import check_bank, model_tokenizer

    tokenizer, context, _ = model_tokenizer("PE-Core-L-14-336")
    assert context == 32
    report = check_bank(PromptBank.from_yaml(name), tokenizer, context)
    assert report["problems"] == []


def test_descriptions_compose_action_in_context():
    bank = PromptBank.from_yaml("default")
    descs = bank.scene_descriptions(bank.find_scene("bank vault"))
    drill = next(d for d in descs if d.label.startswith("a person drilling into a safe"))
    assert drill.anomalous and drill.scene == "bank vault"
    assert len(drill.texts) == len(bank.templates)
    assert all("a person drilling into a safe" in t and "bank vault" in t for t in drill.texts)
    assert drill.wrapped() == tuple("Anomalous scene: " + t for t in drill.texts)  # NOVA's T+


V1_BANK = {
    "version": 1,
    "templates": ["a frame of {action} {place}."],
    "global_templates": ["a frame of {action}."],
    "scene_templates": ["a view of {scene}."],
    "global": {"normal": ["people walking"], "anomalous": ["people fighting"]},
    "scenes": [
        {
            "name": "vault",
            "scene": "a vault",
            "place": "in a vault",
            "normal": ["a clerk counting money"],
            "anomalous": ["a person drilling a safe"],
        }
    ],
}


def test_version_1_banks_keep_loading_without_classes():
    bank = PromptBank.from_dict(V1_BANK)
    assert bank.classes == [] and bank.version == 1
    assert [d.cls for d in bank.descriptions()] == [None] * 4


def test_version_2_groups_anomalous_descriptions_by_class():
    data = {
        **V1_BANK,
        "version": 2,
        "global": {
            "normal": {"shared": ["people walking"], "fighting": ["two boxers sparring"]},
            "anomalous": {"fighting": ["people fighting"], "arson": ["a car on fire"]},
        },
    }
    bank = PromptBank.from_dict(data)
    assert bank.classes == ["fighting", "arson"]
    by_label = {d.label: d.cls for d in bank.global_descriptions()}
    assert by_label == {
        "people walking": None,
        "two boxers sparring": "fighting",
        "people fighting": "fighting",
        "a car on fire": "arson",
    }
    assert bank.fingerprint() != PromptBank.from_dict(V1_BANK).fingerprint()


def test_classes_need_version_2():
    data = {**V1_BANK, "global": {"normal": [], "anomalous": {"fighting": ["people fighting"]}}}
    with pytest.raises(PromptBankError, match=r"global.anomalous.*version: 2"):
        PromptBank.from_dict(data, source="b.yaml")


@pytest.mark.parametrize(
    "key,template,problem",
    [
        ("templates", "a frame of {action} {plcae}.", "unknown placeholder {plcae}"),
        ("templates", "a frame of {action} {place}}.", "stray brace"),
        ("global_templates", "a frame of {action {place}.", "stray brace"),
        ("scene_templates", "a view of {place}.", "unknown placeholder {place}"),
        ("global_templates", "a frame of {0}.", "unknown placeholder {0}"),
    ],
)
def test_bad_template_is_refused_when_the_bank_loads(tmp_path, key, template, problem):
    path = tmp_path / "bank.yaml"
    path.write_text(yaml.safe_dump({**V1_BANK, key: [template]}))
    with pytest.raises(PromptBankError) as info:
        PromptBank.from_yaml(path)
    message = str(info.value)
    assert str(path) in message and f"{key}[0]" in message and problem in message


def test_cli_refuses_a_bad_template_with_exit_2(tmp_path, capsys):
    from vad.cli import main

    path = tmp_path / "bank.yaml"
    path.write_text(yaml.safe_dump({**V1_BANK, "templates": ["a {action} {place} {when}"]}))
    assert main(["prompts", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "templates[0]" in err and "{when}" in err


def test_prompts_check_json_counts_and_exit_codes(tmp_path, capsys):
    import json

    from vad.cli import main

    assert main(["prompts", "--check", "ucf-crime", "--model", "PE-Core-L-14-336", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bank"] == "ucf-crime" and report["problems"] == []
    assert len(report["classes"]) == 13
    assert all(c["anomalous"] >= 20 for c in report["classes"].values())
    assert report["normal"] >= report["anomalous"] and report["scenes"] > 0

    long = "a person " + "very " * 40 + "slowly walking"
    data = {**V1_BANK, "global": {"normal": [long, "people walking"], "anomalous": ["x"]}}
    data["scenes"] = [{**V1_BANK["scenes"][0], "anomalous": ["people walking"]}]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["prompts", "--check", str(path), "--model", "PE-Core-L-14-336", "--json"]) == 1
    kinds = {p["kind"] for p in json.loads(capsys.readouterr().out)["problems"]}
    assert "too_long" in kinds and "duplicate" not in kinds


def test_prompts_check_runs_the_encoder_checks_with_weights(tiny_model, tmp_path, capsys):
    import json

    from vad.cli import main

    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(V1_BANK))
    code = main(["prompts", "--check", str(path), "--model", tiny_model, "--pretrained", "x"])
    assert code in (0, 1)
    capsys.readouterr()
    code = main(
        ["prompts", "--check", str(path), "--model", tiny_model, "--pretrained", "x", "--json"]
    )
    report = json.loads(capsys.readouterr().out)
    assert report["encoder_checks"] is True
    kinds = {p["kind"] for p in report["problems"]}
    assert kinds <= {"near_duplicate", "normal_near_anomalous"}  # random weights: any verdict
    assert code == (1 if report["problems"] else 0)


def test_check_flags_duplicates_across_lists_and_lonely_normal_classes():
    from vad.scoring.promptlint import check_bank

    data = {
        **V1_BANK,
        "version": 2,
        "global": {
            "normal": {"shared": ["people fighting"], "arson": ["a candle burning"]},
            "anomalous": {"fighting": ["people fighting"]},
        },
    }
    problems = check_bank(PromptBank.from_dict(data))["problems"]
    assert {(p["kind"], p["text"]) for p in problems} == {
        ("duplicate", "people fighting"),
        ("class_without_anomalous", "arson"),
    }


def test_check_with_an_encoder_finds_near_duplicates_and_misplaced_normals(stand_in):
    from vad.scoring.promptlint import check_bank

    data = {
        **V1_BANK,
        "global": {
            "normal": ["people walking", "a man fighting people with knives", "a clerk at work"],
            "anomalous": ["people fighting with knives", "knives fighting people"],
        },
    }
    report = check_bank(PromptBank.from_dict(data), encode_text=stand_in.encode_text)
    kinds = [(p["kind"], p["text"]) for p in report["problems"]]
    assert ("near_duplicate", "people fighting with knives") in kinds
    assert ("normal_near_anomalous", "a man fighting people with knives") in kinds
    assert not any(t == "people walking" for _, t in kinds)


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
    from vad.model.encoder import ClipEncoder, _encode_text_trimmed

    enc = ClipEncoder(tiny_model, device="cpu")
    tokens = enc.tokenizer(["a person running in a bank vault.", "hi", "people fighting"])
    with torch.inference_mode():
        full = enc.model.encode_text(tokens)
        trimmed = _encode_text_trimmed(enc.model, tokens)
    np.testing.assert_allclose(trimmed.numpy(), full.numpy(), atol=1e-5)

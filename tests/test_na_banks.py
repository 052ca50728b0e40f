"""Version 3 prompt banks: NOVA's normality-aware construction (arXiv 2609.06360 §3.2).

The lint's word rules (confusers, ambiguous verbs, what a frame cannot show, a scene's own
look-alikes), the geometry gate on an encoder whose geometry the test builds, each class's
normal pool, NOVA's prefixes and the text cache key, the bank variants, the previous banks.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

import numpy as np
import pytest
import yaml

from vad.model.prompts import PromptBank, PromptBankError, available_banks
from vad.scoring.heads import margin_head, normal_pool, top_fraction_mean
from vad.scoring.promptlint import GATE_THRESHOLD, check_bank
from vad.scoring.text import TextEmbeddings, text_cache_key

PREVIOUS = Path(__file__).resolve().parent.parent / "prompts" / "previous"


def na_bank(**edits) -> dict:
    """A small version 3 bank: two classes, a shared normal, one scene."""
    data = {
        "version": 3,
        "name": "small",
        "templates": ["{action} {place}"],
        "global_templates": ["{action}"],
        "scene_templates": ["a view of {scene}."],
        "calm_anchors": ["an empty corridor"],
        "global": {
            "normal": ["people waiting in line"],
            "classes": {
                "fighting": {
                    "confusers": ["sparring", "play wrestling"],
                    "calm": ["an empty hallway at night"],
                    "normal": ["two people talking calmly"],
                    "anomalous": ["two people exchanging punches"],
                },
                "arson": {
                    "confusers": ["barbecue", "lighting a candle"],
                    "calm": ["a closed shop at night"],
                    "normal": ["a person reading a newspaper"],
                    "anomalous": ["a person setting a car on fire"],
                },
            },
        },
        "scenes": [
            {
                "name": "gym",
                "scene": "a gym",
                "place": "in a gym",
                "normal": ["a person lifting weights"],
                "anomalous": {"fighting": ["people punching each other"]},
            }
        ],
    }
    for path, value in edits.items():
        node = data
        keys = path.split("/")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return data


def problems(data: dict, kind: str | None = None) -> list[tuple[str, str]]:
    report = check_bank(PromptBank.from_dict(copy.deepcopy(data), source="bank.yaml"))
    return [(p["kind"], p["text"]) for p in report["problems"] if kind in (None, p["kind"])]


# -- the lint's word rules ----------------------------------------------------------------------


def test_a_confuser_of_any_class_in_any_normal_is_flagged_inflected_or_not():
    data = na_bank(
        **{
            "global/classes/fighting/normal": ["two boxers sparred in a ring"],  # own class
            "global/classes/arson/normal": ["kids play-wrestling on a lawn"],  # another class's
            "global/normal": ["people grilling at a barbecue"],  # shared
        }
    )
    data["scenes"][0]["normal"] = ["a person lighting candles"]  # a scene's, not permitted
    found = problems(data, "look_alike_normal")
    assert set(found) == {
        ("look_alike_normal", "two boxers sparred in a ring"),
        ("look_alike_normal", "kids play-wrestling on a lawn"),
        ("look_alike_normal", "people grilling at a barbecue"),
        ("look_alike_normal", "a person lighting candles"),
    }
    assert problems(na_bank(), "look_alike_normal") == []  # the clean bank passes
    # on the anomalous side a look-alike is no problem
    data = na_bank(**{"global/classes/fighting/anomalous": ["two men sparring with knives"]})
    assert problems(data, "look_alike_normal") == []


@pytest.mark.parametrize(
    "normal", ["a person jogging in a park", "two joggers on a path", "a man running a lap"]
)
def test_running_and_jogging_are_not_normals(normal):
    data = na_bank(**{"global/classes/arson/normal": [normal]})
    assert problems(data, "look_alike_normal") == [("look_alike_normal", normal)]


@pytest.mark.parametrize(
    "text,side",
    [
        ("a robber grabbing cash from a till", "anomalous"),
        ("a person carrying stolen goods", "anomalous"),
        ("a suspect standing by a car", "normal"),
        ("a suspicious person near a door", "normal"),
        ("a person taking a package from someone else's doorstep", "anomalous"),
        ("a masked person at a counter", "anomalous"),
        ("a victim lying on the floor", "anomalous"),
        ("a criminal leaving a shop", "anomalous"),
    ],
)
def test_words_a_frame_cannot_show_are_flagged(text, side):
    data = na_bank(**{f"global/classes/arson/{side}": [text]})
    assert problems(data, "not_visible") == [("not_visible", text)]


def test_a_car_hood_is_not_a_covered_face():
    data = na_bank(**{"global/classes/arson/normal": ["a person leaning on a car hood"]})
    assert problems(data) == [p for p in problems(data) if p[0] == "class_size"]


def test_a_scene_may_permit_its_own_look_alike_only_with_the_cue_it_still_catches():
    data = na_bank()
    scene = data["scenes"][0]
    scene["normal"] = ["a person running on a treadmill", "two people sparring in a ring"]
    flagged = problems(data, "look_alike_normal")
    assert {t for _, t in flagged} == set(scene["normal"])

    cue = "people punching each other"
    scene["permits"] = {"running": "a person collapsing off a treadmill", "sparring": cue}
    found = problems(data)
    assert ("permit", "running") in found  # its cue is not among the scene's anomalous
    assert ("look_alike_normal", "two people sparring in a ring") not in found
    scene["anomalous"] = {"fighting": [cue], "arson": ["a person collapsing off a treadmill"]}
    assert problems(data, "look_alike_normal") == problems(data, "permit") == []

    scene["permits"]["walking"] = cue  # no rule forbids walking: nothing to permit
    assert problems(data, "permit") == [("permit", "walking")]
    # a permit covers the scene's own normals, never those that apply in every scene
    data = na_bank(**{"global/classes/arson/normal": ["a person running for a bus"]})
    data["scenes"][0]["permits"] = {"running": "people punching each other"}
    assert problems(data, "look_alike_normal") == [
        ("look_alike_normal", "a person running for a bus")
    ]


def test_class_sizes_follow_nova():
    found = {text for _, text in problems(na_bank(), "class_size")}  # 2 confusers, 2 normals
    assert found == {"fighting", "arson"}
    report = check_bank(PromptBank.from_dict(na_bank()))
    details = [p["detail"] for p in report["problems"] if p["text"] == "fighting"]
    assert any("2 confusers" in d for d in details)
    assert any("2 own normals" in d for d in details)
    assert any("1 anomalous" in d for d in details)
    assert not any("calm" in d for d in details)  # 1 calm normal, 1 calm anchor: fine


# -- the shipped banks -------------------------------------------------------------------------


VARIANTS = {b: [f"{b}{v}" for v in ("", "-b", "-c")] for b in ("ucf-crime", "xd-violence")}


@pytest.mark.parametrize("base", sorted(VARIANTS))
def test_three_independently_written_variants_per_benchmark_bank(base):
    banks = [PromptBank.from_yaml(n) for n in VARIANTS[base]]
    assert all(b.version == 3 for b in banks)
    assert len({tuple(b.classes) for b in banks}) == 1  # the dataset's classes
    for a, b in itertools.combinations(banks, 2):
        texts_a = {d.label for d in a.descriptions()}
        texts_b = {d.label for d in b.descriptions()}
        assert len(texts_a & texts_b) <= 0.02 * len(texts_a), (a.name, b.name)
        assert a.calm_anchors != b.calm_anchors
        for cls in a.classes:  # other look-alikes, not the same list reworded
            assert set(a.confusers[cls]) != set(b.confusers[cls]), (a.name, b.name, cls)


@pytest.mark.parametrize("name", [n for names in VARIANTS.values() for n in names])
def test_benchmark_banks_keep_every_look_alike_off_the_normal_side(name):
    bank = PromptBank.from_yaml(name)
    assert all(not s.permits for s in bank.scenes)  # no scene-own exception in a benchmark
    assert not bank.global_normal_classes.count(None)  # no shared normals: class pools only
    report = check_bank(bank)
    assert report["problems"] == []
    for cls, counts in report["classes"].items():
        assert 5 <= counts["confusers"] <= 8 and counts["calm"] == 4, cls


def test_default_scenes_name_what_they_make_normal_with_the_cue_they_still_catch():
    bank = PromptBank.from_yaml("default")
    permits = {s.name: dict(s.permits) for s in bank.scenes if s.permits}
    assert permits["campsite"]["campfire"] == "a tent on fire"
    assert "running" in permits["running track"]
    for name, terms in permits.items():
        scene = bank.find_scene(name)
        assert set(terms.values()) <= set(scene.anomalous), name


def test_previous_banks_load_by_path_and_are_not_shipped_names():
    for name in ("ucf-crime", "xd-violence"):
        bank = PromptBank.from_yaml(PREVIOUS / f"{name}.yaml")
        assert bank.version == 2 and bank.name == f"{name}-previous"
        assert f"{name}-previous" not in available_banks()
        assert bank.fingerprint() != PromptBank.from_yaml(name).fingerprint()
        assert check_bank(bank)["problems"] == []  # not held to the version 3 rules
        # the old banks put look-alikes on the normal side: what NA removes
        assert any("sparring" in t or "fireworks" in t for t in bank.global_normal)


# -- loading -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "edit,key",
    [
        (lambda d: d["global"]["classes"]["fighting"].pop("confusers"), "fighting.confusers"),
        (lambda d: d.pop("calm_anchors"), "calm_anchors"),
        (lambda d: d["global"].update(anomalous={"x": ["y"]}), "global.anomalous"),
        (lambda d: d["global"]["classes"]["arson"].update(normal="a candle"), "arson.normal"),
        (lambda d: d["scenes"][0].update(anomalous={"riot": ["a mob"]}), "scenes[0] (gym)"),
        (lambda d: d["scenes"][0].update(permits=["running"]), "scenes[0] (gym).permits"),
        (lambda d: d.update(version=2), "calm_anchors"),
    ],
)
def test_a_malformed_version_3_bank_is_one_line_naming_file_and_key(tmp_path, edit, key):
    data = na_bank()
    edit(data)
    path = tmp_path / "bank.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(PromptBankError) as info:
        PromptBank.from_yaml(path)
    message = str(info.value)
    assert str(path) in message and key in message and "\n" not in message


def test_version_3_classes_and_pools_in_the_loaded_bank():
    bank = PromptBank.from_dict(na_bank())
    assert bank.version == 3 and bank.classes == ["fighting", "arson"]
    by_label = {d.label: (d.cls, d.scene) for d in bank.descriptions() if not d.anomalous}
    assert by_label == {
        "people waiting in line": (None, None),
        "an empty hallway at night": ("fighting", None),
        "two people talking calmly": ("fighting", None),
        "a closed shop at night": ("arson", None),
        "a person reading a newspaper": ("arson", None),
        "a person lifting weights in a gym": (None, "gym"),
    }
    assert bank.confusers["arson"] == ["barbecue", "lighting a candle"]


# -- pools, prefixes, cache key ----------------------------------------------------------------


class TableEncoder:
    """Text embeddings looked up by description (the prefix stripped), so a test sets the
    geometry; every text it was asked for is kept."""

    def __init__(self, table: dict[str, np.ndarray]):
        self.table = table
        self.seen: list[str] = []

    def encode_text(self, texts):
        self.seen += list(texts)
        dim = len(next(iter(self.table.values())))
        other = unit((dim - 1, 1.0), dim=dim)  # scene texts
        return np.asarray([self.table.get(t.split(": ", 1)[-1], other) for t in texts], np.float32)


def unit(*pairs, dim=8) -> np.ndarray:
    v = np.zeros(dim)
    for i, x in pairs:
        v[i] = x
    return v / np.linalg.norm(v)


def test_a_class_pool_is_its_own_normals_calm_included_and_the_anchor():
    bank = PromptBank.from_dict(na_bank())
    labels = [d.label for d in bank.descriptions()]
    table = {label: unit((i, 1.0), dim=16) for i, label in enumerate(labels)}
    text = TextEmbeddings.build(bank, TableEncoder(table).encode_text, repulsive=True)
    fighting = bank.classes.index("fighting")
    old_pool = {text.labels[c] for c in normal_pool(text.anomalous, text.classes, fighting)}
    assert "people waiting in line" in old_pool  # version 1-2: every classless normal
    pool = {
        text.labels[c]
        for c in normal_pool(text.anomalous, text.classes, fighting, text.shared_normal)
    }
    # its own (calm and ordinary) and the scene's; not arson's, not the shared normal
    assert pool == {
        "an empty hallway at night",
        "two people talking calmly",
        "a person lifting weights in a gym",
    }

    # margins on constructed cosines: a frame very close to arson's normal and to the shared
    # normal is still scored against fighting's own pool (+ the anchor), as NOVA pools
    rng = np.random.default_rng(0)
    sims = rng.uniform(0.1, 0.3, size=(5, len(labels)))
    sims[:, labels.index("people waiting in line")] = 0.9
    sims[:, labels.index("a person reading a newspaper")] = 0.9
    anchor = rng.uniform(0.2, 0.4, size=5)
    scope = text.scene_index < 0  # context-free: the global descriptions
    got = margin_head(
        sims[:, scope],
        text.anomalous[scope],
        text.classes[scope],
        anchor,
        shared_normal=text.shared_normal[scope],
    )
    col = {label: i for i, label in enumerate(labels)}

    def margin(anomalous, normal):
        u_pos = top_fraction_mean(sims[:, [col[a] for a in anomalous]])
        own = np.c_[sims[:, [col[n] for n in normal]], anchor]
        return (0.9 * u_pos - top_fraction_mean(own)) / 0.03

    want = np.maximum(
        margin(
            ["two people exchanging punches"],
            ["an empty hallway at night", "two people talking calmly"],
        ),
        margin(
            ["a person setting a car on fire"],
            ["a closed shop at night", "a person reading a newspaper"],
        ),
    )
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # the version 2 pools (every classless normal in every class's pool) score lower here
    old = margin_head(sims[:, scope], text.anomalous[scope], text.classes[scope], anchor)
    assert (old < got).all()


def test_version_2_banks_keep_their_pools():
    bank = PromptBank.from_yaml(PREVIOUS / "ucf-crime.yaml")
    descs = bank.descriptions()
    text = TextEmbeddings(
        scenes=np.zeros((len(bank.scenes), 4)),
        descriptions=np.zeros((len(descs), 4)),
        anomalous=np.array([d.anomalous for d in descs]),
        scene_index=np.array([-1 if d.scene is None else 0 for d in descs]),
        labels=[d.label for d in descs],
        classes=np.array([-1 if d.cls is None else bank.classes.index(d.cls) for d in descs]),
    )
    assert (text.shared_normal == (~text.anomalous & (text.classes < 0))).all()


def test_nova_prefixes_are_exact_and_carry_no_class_name(tmp_path):
    bank = PromptBank.from_dict(na_bank())
    labels = [d.label for d in bank.descriptions()]
    encoder = TableEncoder({label: unit((i % 8, 1.0), (7, 0.1)) for i, label in enumerate(labels)})
    text = TextEmbeddings.build(bank, encoder.encode_text, repulsive=True)
    described = encoder.seen[len(bank.scenes) :]
    want = [
        ("Anomalous scene: " if d.anomalous else "Normal scene: ") + d.texts[0]
        for d in bank.descriptions()
    ]
    assert described == want
    assert not any("fighting" in t or "arson" in t for t in described)
    # the pools survive the text-embedding cache
    text.save(tmp_path / "t.npz")
    loaded = TextEmbeddings.load(tmp_path / "t.npz")
    assert (loaded.shared_normal == text.shared_normal).all()


def test_the_text_cache_key_changes_with_the_prefixes(monkeypatch):
    import vad.scoring.text

    bank = PromptBank.from_dict(na_bank())
    identity = {"model": "m", "pretrained": "p"}
    key = text_cache_key(bank, identity, repulsive=True)
    plain = text_cache_key(bank, identity, repulsive=False)
    assert key != plain
    old = {False: "Normal scene: {text}", True: "Anomalous scene, {cls}: {text}"}
    monkeypatch.setattr(vad.scoring.text, "REPULSIVE", old)  # the prefixes before NOVA's
    assert text_cache_key(bank, identity, repulsive=True) != key
    # texts without prefixes did not change: their cached embeddings keep their key
    assert text_cache_key(bank, identity) == plain


# -- NOVA's geometry gate ----------------------------------------------------------------------


def test_geometry_gate_flags_normals_too_close_to_their_class_centroid():
    data = na_bank(
        **{
            "global/classes/fighting/anomalous": ["a punch", "a kick"],
            "global/classes/fighting/normal": ["close", "just above", "just below", "far"],
            "global/normal": ["shared close"],
        }
    )
    bank = PromptBank.from_dict(data)
    # fighting's anomalous centroid lies on axis 0; each normal at a chosen cosine to it
    table = {
        "a punch": unit((0, 1.0), (1, 0.2)),
        "a kick": unit((0, 1.0), (1, -0.2)),
        "close": unit((0, 0.8), (2, 0.6)),
        "just above": unit((0, GATE_THRESHOLD + 0.01), (3, (1 - 0.71**2) ** 0.5)),
        "just below": unit((0, GATE_THRESHOLD - 0.01), (3, (1 - 0.69**2) ** 0.5)),
        "far": unit((0, 0.3), (4, (1 - 0.09) ** 0.5)),
        "shared close": unit((0, 0.9), (5, (1 - 0.81) ** 0.5)),
        "an empty hallway at night": unit((6, 1.0)),
        "a person setting a car on fire": unit((7, 1.0)),
        "a closed shop at night": unit((5, 1.0)),
        "a person reading a newspaper": unit((4, 1.0)),
        "people punching each other in a gym": unit((0, 1.0), (2, -0.3)),
        "a person lifting weights in a gym": unit((6, 1.0), (4, 1.0)),
    }
    encoder = TableEncoder(table)
    report = check_bank(bank, encode_text=encoder.encode_text)
    gate = {(p["where"], p["text"]) for p in report["problems"] if p["kind"] == "geometry_gate"}
    assert gate == {("fighting", "close"), ("fighting", "just above"), ("fighting", "shared close")}
    # the gate embeds the descriptions with NOVA's prefixes
    normals = [t for t in encoder.seen if t.split(": ", 1)[-1] in {"close", "far"}]
    assert normals and all(t.startswith("Normal scene: ") for t in normals)

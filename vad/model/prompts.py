"""Prompt banks: scenes, the activities normal and anomalous in each, and the templates that
compose them into action-in-context descriptions. Banks are YAML data in ``prompts/``.

A bank file, version 3 (NOVA's normality-aware construction, arXiv 2609.06360 §3.2)::

    version: 3
    name: ucf-crime
    description: one line
    templates: ["a CCTV frame of {action} {place}."]       # {action} and {place}
    global_templates: ["{action}"]                          # {action} only
    scene_templates: ["a CCTV image of {scene}."]           # {scene}
    calm_anchors: [an empty corridor, ...]  # NOVA's K shared calm anchors: each class writes
                                            # its own K calm normals from them
    global:
      normal: [...]                         # optional; shared normals are in no class's pool
      classes:
        fighting:
          confusers: [sparring, horseplay, ...]   # 5-8 benign look-alikes, never in a normal
          calm: [...]                       # K establishing scenes for this class
          normal: [...]                     # its ordinary normals (calm + normal: NOVA's M = 20)
          anomalous: [...]                  # M = 20
    scenes:
      - name: running track
        ...
        normal: [a person running a lap]    # a scene's own normals may name a look-alike ...
        anomalous: [a person chasing another person across the lanes]
        permits: {running: a person chasing another person across the lanes}
                                            # ... with the anomaly this scene still catches

A class's normal pool (margin head) is its calm and ordinary normals, the normals of the scene
in scope, and the visual anchor; a v3 bank's shared normals serve only the classless heads and
unclassed scene anomalies. Versions 1 and 2 (below) keep loading and scoring as before::

    version: 2                      # 1: anomalous lists without classes (still loads)
    name: default
    description: one line
    templates: ["a surveillance camera frame of {action} {place}."]   # {action} and {place}
    global_templates: ["a surveillance camera frame of {action}."]    # {action} only
    scene_templates: ["a surveillance camera view of {scene}."]       # {scene}
    global:                                                           # true in any scene
      normal: [...]                       # a list, or a mapping class -> list ('shared': all)
      anomalous: {fighting: [...], ...}   # version 2: class -> list (version 1: a plain list)
    scenes:
      - name: bank vault            # what users type with --context
        scene: a bank vault         # fills {scene}
        place: in a bank vault      # fills {place}
        aliases: [a vault]          # optional
        normal: [a bank employee counting money]
        anomalous: {robbery: [a person pointing a gun at a teller]}   # or a plain list
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vad.shipped import shipped_dir
from vad.yamlio import read_text, safe_load

PROMPTS_DIR = shipped_dir("prompts")
TOP_KEYS = {
    "version",
    "name",
    "description",
    "templates",
    "global_templates",
    "scene_templates",
    "global",
    "scenes",
    "calm_anchors",
}
REQUIRED_TOP = {"templates", "global_templates", "scene_templates", "global", "scenes"}
SCENE_KEYS = {"name", "scene", "place", "aliases", "normal", "anomalous", "permits"}
REQUIRED_SCENE = {"name", "scene", "place", "normal", "anomalous"}
CLASS_KEYS = ("confusers", "calm", "normal", "anomalous")  # version 3: all required
VERSIONS = (1, 2, 3)
NA_VERSION = 3  # first version with NOVA's normality-aware construction
SHARED = "shared"  # the class key of normal descriptions shared by every class
# NOVA's text prefixes T+ and T- (§4.1; Flashback's repulsive prompting): every description says
# which side it is on, and nothing else (no class name).
ANOMALOUS_PREFIX = "Anomalous scene: "
NORMAL_PREFIX = "Normal scene: "
REPULSIVE = {False: NORMAL_PREFIX + "{text}", True: ANOMALOUS_PREFIX + "{text}"}


class PromptBankError(ValueError):
    """A prompt bank file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Scene:
    name: str
    scene: str
    place: str
    normal: tuple[str, ...]
    anomalous: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    normal_classes: tuple[str | None, ...] = ()  # class of each normal (None = shared)
    anomalous_classes: tuple[str | None, ...] = ()
    # version 3: (look-alike, anomalous description of this scene that still catches it)
    permits: tuple[tuple[str, str], ...] = ()

    def classes_of(self, anomalous: bool) -> tuple[str | None, ...]:
        actions = self.anomalous if anomalous else self.normal
        classes = self.anomalous_classes if anomalous else self.normal_classes
        return classes or (None,) * len(actions)


@dataclass(frozen=True)
class Description:
    """One action-in-context description: its label, the template texts that are averaged into
    its embedding, whether it is anomalous, and the scene it belongs to (None = global)."""

    label: str
    texts: tuple[str, ...]
    anomalous: bool
    scene: str | None
    cls: str | None = None  # anomaly class (None: unclassed, or a normal shared by every class)

    def wrapped(self) -> tuple[str, ...]:
        """The texts behind NOVA's prefixes ("Anomalous scene: ...", "Normal scene: ...").

        >>> Description("x", ("a car on fire",), True, None, "arson").wrapped()
        ('Anomalous scene: a car on fire',)
        """
        form = REPULSIVE[self.anomalous]
        return tuple(form.format(text=t) for t in self.texts)


@dataclass
class PromptBank:
    name: str
    description: str
    templates: list[str]
    global_templates: list[str]
    scene_templates: list[str]
    global_normal: list[str]
    global_anomalous: list[str]
    scenes: list[Scene]
    source: str = "<memory>"
    version: int = 1
    global_normal_classes: list[str | None] = field(default_factory=list)
    global_anomalous_classes: list[str | None] = field(default_factory=list)
    # version 3 (NOVA's normality-aware construction)
    calm_anchors: list[str] = field(default_factory=list)  # the K shared calm anchors
    confusers: dict[str, list[str]] = field(default_factory=dict)  # class -> look-alikes
    calm: dict[str, list[str]] = field(default_factory=dict)  # class -> its K calm normals
    _fingerprint: str = field(default="", repr=False)

    @classmethod
    def from_yaml(cls, path: str | Path) -> PromptBank:
        """Load and validate a bank. ``path`` is a file or the name of a bank in ``prompts/``."""
        path = resolve_bank_path(path)
        try:
            text = read_text(path)  # names the file when not UTF-8
        except OSError as exc:
            raise PromptBankError(f"{path}: cannot read prompt bank ({exc.strerror})") from exc
        try:
            data = safe_load(text)  # refuses alias bombs, deep nesting
        except yaml.YAMLError as exc:
            raise PromptBankError(f"{path}: invalid YAML ({_yaml_problem(exc)})") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data, source: str = "<memory>") -> PromptBank:
        where = source

        def fail(key: str, problem: str):
            raise PromptBankError(f"{where}: key '{key}': {problem}")

        if not isinstance(data, dict):
            raise PromptBankError(f"{where}: a prompt bank must be a YAML mapping")
        unknown = set(data) - TOP_KEYS
        if unknown:
            fail(sorted(unknown)[0], f"unknown key (allowed: {', '.join(sorted(TOP_KEYS))})")
        for key in sorted(REQUIRED_TOP - set(data)):
            fail(key, "missing")
        version = data.get("version", 1)
        if version not in VERSIONS or isinstance(version, bool):
            fail("version", f"unsupported version {version!r} (expected 1, 2 or 3)")
        calm_anchors: list[str] = []
        if version >= NA_VERSION:
            if "calm_anchors" not in data:
                fail("calm_anchors", f"missing (version {NA_VERSION}: the shared calm anchors)")
            calm_anchors = _str_list(data["calm_anchors"], "calm_anchors", fail)
        elif "calm_anchors" in data:
            fail("calm_anchors", f"needs 'version: {NA_VERSION}'")

        templates, global_templates, scene_templates = _templates(data, fail)
        confusers: dict[str, list[str]] = {}
        calm: dict[str, list[str]] = {}
        if version >= NA_VERSION:
            (
                global_normal,
                global_normal_classes,
                global_anomalous,
                global_anomalous_classes,
            ) = _na_global(data["global"], confusers, calm, fail)
        else:
            (
                global_normal,
                global_normal_classes,
                global_anomalous,
                global_anomalous_classes,
            ) = _plain_global(data["global"], version, fail)
        scenes = _scenes(data["scenes"], version, confusers, fail)

        name = data.get("name", Path(source).stem)
        description = data.get("description", "")
        for k, v in (("name", name), ("description", description)):
            if not isinstance(v, str):
                fail(k, "must be a string")
        return cls(
            name=name,
            description=description,
            templates=templates,
            global_templates=global_templates,
            scene_templates=scene_templates,
            global_normal=global_normal,
            global_anomalous=global_anomalous,
            scenes=scenes,
            source=source,
            version=version,
            global_normal_classes=global_normal_classes,
            global_anomalous_classes=global_anomalous_classes,
            calm_anchors=calm_anchors,
            confusers=confusers,
            calm=calm,
        )

    # -- composition ---------------------------------------------------------------------------

    @property
    def scene_names(self) -> list[str]:
        return [s.name for s in self.scenes]

    def scene_texts(self, scene: Scene) -> list[str]:
        """Template ensemble describing what the camera sees, for scene classification."""
        return [t.format(scene=scene.scene) for t in self.scene_templates]

    @property
    def classes(self) -> list[str]:
        """The anomaly classes named anywhere in the bank, in order of first appearance."""
        names = [*self.global_anomalous_classes, *self.global_normal_classes]
        for s in self.scenes:
            names += [*s.anomalous_classes, *s.normal_classes]
        return [c for c in dict.fromkeys(names) if c is not None]

    def global_descriptions(self) -> list[Description]:
        out = []
        for anom, actions, classes in (
            (False, self.global_normal, self.global_normal_classes),
            (True, self.global_anomalous, self.global_anomalous_classes),
        ):
            classes = classes or [None] * len(actions)
            for a, c in zip(actions, classes, strict=True):
                texts = tuple(t.format(action=a) for t in self.global_templates)
                out.append(Description(a, texts, anom, None, c))
        return out

    def scene_descriptions(self, scene: Scene, place: str | None = None) -> list[Description]:
        """Action-in-context descriptions of ``scene``; ``place`` overrides its place phrase
        (used when the user fixes the context with free text)."""
        place = place or scene.place
        return [
            Description(
                f"{a} {place}",
                tuple(t.format(action=a, place=place) for t in self.templates),
                anom,
                scene.name,
                c,
            )
            for anom, actions in ((False, scene.normal), (True, scene.anomalous))
            for a, c in zip(actions, scene.classes_of(anom), strict=True)
        ]

    def descriptions(self) -> list[Description]:
        """Every description: the global ones, then each scene's."""
        out = self.global_descriptions()
        for scene in self.scenes:
            out += self.scene_descriptions(scene)
        return out

    @property
    def num_texts(self) -> int:
        """How many template texts the encoder sees for this bank."""
        actions = sum(len(s.normal) + len(s.anomalous) for s in self.scenes)
        return (
            len(self.scenes) * len(self.scene_templates)
            + (len(self.global_normal) + len(self.global_anomalous)) * len(self.global_templates)
            + actions * len(self.templates)
        )

    def find_scene(self, text: str) -> Scene | None:
        """The scene whose name or alias equals ``text`` (ignoring case and articles)."""
        want = normalize_scene_text(text)
        for scene in self.scenes:
            names = (scene.name, scene.scene, scene.place, *scene.aliases)
            if any(normalize_scene_text(n) == want for n in names):
                return scene
        return None

    def fingerprint(self) -> str:
        """Content hash: changes whenever any text that reaches the encoder changes."""
        if not self._fingerprint:
            content = [
                self.templates,
                self.global_templates,
                self.scene_templates,
                self.global_normal,
                self.global_anomalous,
                [(s.name, s.scene, s.place, s.normal, s.anomalous) for s in self.scenes],
            ]
            if self.classes:  # classes name the texts' groups; banks without them hash as before
                content.append(
                    [self.global_normal_classes, self.global_anomalous_classes]
                    + [(s.normal_classes, s.anomalous_classes) for s in self.scenes]
                )
            if self.version >= NA_VERSION:  # its pools differ: shared normals join none
                content.append(f"pools v{NA_VERSION}")
            payload = json.dumps(content, sort_keys=True)
            self._fingerprint = hashlib.sha256(payload.encode()).hexdigest()[:16]
        return self._fingerprint

    def to_text(self) -> str:
        """Human-readable listing for ``vad prompts``."""
        lines = [f"prompt bank '{self.name}' ({self.source})"]
        if self.description:
            lines.append(f"  {self.description}")
        lines.append(f"  templates: {len(self.templates)}  e.g. {self.templates[0]!r}")
        if self.calm_anchors:
            lines.append(
                f"  calm anchors ({len(self.calm_anchors)}): {'; '.join(self.calm_anchors)}"
            )
        lines.append(
            f"  global normal ({len(self.global_normal)}): {', '.join(self.global_normal)}"
        )
        if self.classes:
            for cls in self.classes:
                got = [
                    a
                    for a, c in zip(
                        self.global_anomalous, self.global_anomalous_classes, strict=True
                    )
                    if c == cls
                ]
                lines.append(f"  global anomalous, {cls} ({len(got)}): {', '.join(got)}")
                if cls in self.confusers:
                    own = self.global_normal_classes.count(cls)
                    lines.append(
                        f"    normal pool: {own} own normals ({len(self.calm[cls])} calm), the "
                        f"scene's with context, the visual anchor; confusers: "
                        f"{', '.join(self.confusers[cls])}"
                    )
        else:
            lines.append(
                f"  global anomalous ({len(self.global_anomalous)}): "
                + ", ".join(self.global_anomalous)
            )
        lines.append(f"  scenes ({len(self.scenes)}):")
        for s in self.scenes:
            lines.append(f"    {s.name}  [{s.place}]")
            lines.append(f"      normal:    {', '.join(s.normal) or '-'}")
            lines.append(f"      anomalous: {', '.join(s.anomalous) or '-'}")
            for term, cue in s.permits:
                lines.append(f"      permits {term!r}, still catching {cue!r}")
        return "\n".join(lines)


def normalize_scene_text(text: str) -> str:
    words = text.lower().replace("_", " ").replace("-", " ").split()
    stop = {"a", "an", "the", "in", "on", "at", "inside", "of"}
    return " ".join(w for w in words if w not in stop)


def resolve_bank_path(path: str | Path) -> Path:
    """A bank file path, or a bank name looked up in the shipped ``prompts/`` folder."""
    p = Path(path).expanduser()
    if p.suffix.lower() in (".yaml", ".yml") or p.exists():
        return p
    candidate = PROMPTS_DIR / f"{path}.yaml"
    if candidate.exists():
        return candidate
    known = ", ".join(available_banks()) or "none"
    raise PromptBankError(f"{path}: no such prompt bank file or shipped bank (shipped: {known})")


def available_banks() -> list[str]:
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.yaml"))


def _str_list(value, key: str, fail, allow_empty: bool = False) -> list[str]:
    if value is None and allow_empty:
        return []
    if not isinstance(value, list):
        fail(key, f"must be a list of strings, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            fail(f"{key}[{i}]", f"must be a non-empty string, got {item!r}")
        out.append(" ".join(item.split()))
    if not out and not allow_empty:
        fail(key, "must not be empty")
    if len(set(out)) != len(out):
        dup = next(x for x in out if out.count(x) > 1)
        fail(key, f"duplicate entry {dup!r}")
    return out


def _templates(data: dict, fail) -> tuple[list[str], list[str], list[str]]:
    """The three template lists, each template naming exactly its placeholders."""
    templates = _str_list(data["templates"], "templates", fail)
    global_templates = _str_list(data["global_templates"], "global_templates", fail)
    scene_templates = _str_list(data["scene_templates"], "scene_templates", fail)
    for key, items, need in (
        ("templates", templates, {"action", "place"}),
        ("global_templates", global_templates, {"action"}),
        ("scene_templates", scene_templates, {"scene"}),
    ):
        for i, t in enumerate(items):
            _check_template(t, f"{key}[{i}]", need, need, fail)
    return templates, global_templates, scene_templates


def _plain_global(glob, version: int, fail):
    """``global:`` of a version 1 or 2 bank: ``(normal, normal_classes, anomalous,
    anomalous_classes)``."""
    if not isinstance(glob, dict):
        fail("global", "must be a mapping with 'normal' and 'anomalous' lists")
    extra = set(glob) - {"normal", "anomalous"}
    if extra:
        fail(f"global.{sorted(extra)[0]}", "unknown key (allowed: normal, anomalous)")
    normal, normal_classes = _grouped(
        glob.get("normal", []), "global.normal", version, fail, allow_empty=True
    )
    anomalous, anomalous_classes = _grouped(
        glob.get("anomalous"), "global.anomalous", version, fail
    )
    return normal, normal_classes, anomalous, anomalous_classes


def _scenes(raw_scenes, version: int, confusers: dict, fail) -> list[Scene]:
    """``scenes:``: at least one, with unique names and aliases (compared normalised)."""
    if not isinstance(raw_scenes, list):
        fail("scenes", "must be a list of scene mappings")
    scenes: list[Scene] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(raw_scenes):
        scene = _scene(raw, i, version, confusers, fail)
        key = f"scenes[{i}] ({raw['name']})"
        if any(s.name == scene.name for s in scenes):
            fail(f"{key}.name", f"duplicate scene name '{scene.name}'")
        for alias in (scene.name, *scene.aliases):
            norm = normalize_scene_text(alias)
            if norm in seen and seen[norm] != scene.name:
                fail(f"{key}.name", f"'{alias}' is already used by scene '{seen[norm]}'")
            seen[norm] = scene.name
        scenes.append(scene)
    if not scenes:
        fail("scenes", "must list at least one scene")
    return scenes


def _scene(raw, i: int, version: int, confusers: dict, fail) -> Scene:
    """One entry of ``scenes:``; a version 3 bank's classes must be declared globally."""
    key = f"scenes[{i}]"
    if not isinstance(raw, dict):
        fail(key, "must be a mapping")
    unknown = set(raw) - SCENE_KEYS
    if unknown:
        fail(f"{key}.{sorted(unknown)[0]}", "unknown key")
    for k in sorted(REQUIRED_SCENE - set(raw)):
        fail(f"{key}.{k}", "missing")
    for k in ("name", "scene", "place"):
        if not isinstance(raw[k], str) or not raw[k].strip():
            fail(f"{key}.{k}", "must be a non-empty string")
    key = f"scenes[{i}] ({raw['name']})"
    normal, normal_classes = _grouped(raw["normal"], f"{key}.normal", version, fail, True)
    anomalous, anomalous_classes = _grouped(
        raw["anomalous"], f"{key}.anomalous", version, fail, True
    )
    if version >= NA_VERSION:
        for c in (*normal_classes, *anomalous_classes):
            if c is not None and c not in confusers:
                fail(f"{key}.anomalous", f"class '{c}' is not declared in global.classes")
    scene = Scene(
        name=raw["name"].strip(),
        scene=raw["scene"].strip(),
        place=raw["place"].strip(),
        normal=tuple(normal),
        anomalous=tuple(anomalous),
        aliases=tuple(_str_list(raw.get("aliases", []), f"{key}.aliases", fail, True)),
        normal_classes=tuple(normal_classes),
        anomalous_classes=tuple(anomalous_classes),
        permits=_permits(raw.get("permits"), f"{key}.permits", version, fail),
    )
    if not scene.normal and not scene.anomalous:
        fail(key, "needs at least one normal or anomalous action")
    return scene


def _check_template(template: str, key: str, need: set, allowed: set, fail) -> None:
    """Refuse unknown placeholders and stray braces now, not when the bank is encoded."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        fail(key, f"stray brace in template {template!r} ({exc}); write {{{{ or }}}} for a brace")
    for f in fields:
        if f not in allowed:
            known = ", ".join("{" + a + "}" for a in sorted(allowed))
            fail(key, f"unknown placeholder {{{f}}} in template {template!r} (allowed: {known})")
    for f in sorted(need - set(fields)):
        fail(key, f"template {template!r} must contain {{{f}}}")


def _grouped(value, key: str, version: int, fail, allow_empty: bool = False):
    """A list of descriptions, or (version 2) a mapping class -> list: (texts, classes)."""
    if isinstance(value, dict):
        if version < 2:
            fail(key, "anomaly classes (a mapping class -> list) need 'version: 2'")
        texts: list[str] = []
        classes: list[str | None] = []
        for cls, items in value.items():
            if not isinstance(cls, str) or not cls.strip():
                fail(key, f"class names must be non-empty strings, got {cls!r}")
            got = _str_list(items, f"{key}.{cls}", fail)
            texts += got
            # 'shared': normal descriptions that belong to every class
            classes += [None if cls.strip() == SHARED else cls.strip()] * len(got)
        if len(set(texts)) != len(texts):
            dup = next(x for x in texts if texts.count(x) > 1)
            fail(key, f"duplicate entry {dup!r}")
        if not texts and not allow_empty:
            fail(key, "must not be empty")
        return texts, classes
    texts = _str_list(value, key, fail, allow_empty)
    return texts, [None] * len(texts)


def _na_global(glob, confusers: dict, calm: dict, fail):
    """Version 3's ``global``: optional shared normals and the classes, each with its
    confusers, calm normals, ordinary normals and anomalous descriptions. Fills ``confusers``
    and ``calm``; returns (normal, normal classes, anomalous, anomalous classes)."""
    if not isinstance(glob, dict):
        fail("global", "must be a mapping with 'classes' (and optionally 'normal')")
    extra = set(glob) - {"normal", "classes"}
    if extra:
        key = sorted(extra)[0]
        hint = " (version 3 lists them under global.classes.CLASS)" if key == "anomalous" else ""
        fail(f"global.{key}", f"unknown key (allowed: normal, classes){hint}")
    shared = glob.get("normal", [])
    if isinstance(shared, dict):
        fail("global.normal", "version 3: a list of shared normals (class normals: global.classes)")
    normal = _str_list(shared, "global.normal", fail, allow_empty=True)
    normal_classes: list[str | None] = [None] * len(normal)
    anomalous: list[str] = []
    anomalous_classes: list[str | None] = []
    classes = glob.get("classes")
    if not isinstance(classes, dict) or not classes:
        fail("global.classes", "must be a mapping class -> {confusers, calm, normal, anomalous}")
    for cls, block in classes.items():
        if not isinstance(cls, str) or not cls.strip() or cls.strip() == SHARED:
            fail("global.classes", f"class names must be non-empty strings, got {cls!r}")
        key = f"global.classes.{cls}"
        if not isinstance(block, dict):
            fail(key, f"must be a mapping with {', '.join(CLASS_KEYS)}")
        for k in sorted(set(block) - set(CLASS_KEYS)):
            fail(f"{key}.{k}", f"unknown key (allowed: {', '.join(CLASS_KEYS)})")
        for k in CLASS_KEYS:
            if k not in block:
                fail(f"{key}.{k}", "missing")
        cls = cls.strip()
        confusers[cls] = _str_list(block["confusers"], f"{key}.confusers", fail)
        calm[cls] = _str_list(block["calm"], f"{key}.calm", fail)
        own = calm[cls] + _str_list(block["normal"], f"{key}.normal", fail)
        normal += own
        normal_classes += [cls] * len(own)
        got = _str_list(block["anomalous"], f"{key}.anomalous", fail)
        anomalous += got
        anomalous_classes += [cls] * len(got)
    for side, texts, owners in (
        ("normal", normal, normal_classes),
        ("anomalous", anomalous, anomalous_classes),
    ):
        if len(set(texts)) != len(texts):
            dup = next(x for x in texts if texts.count(x) > 1)
            where = [c or "global.normal" for t, c in zip(texts, owners, strict=True) if t == dup]
            fail(
                f"global.classes.{where[-1]}.{side}",
                f"duplicate entry {dup!r} (also in {where[0]})",
            )
    return normal, normal_classes, anomalous, anomalous_classes


def _permits(value, key: str, version: int, fail) -> tuple[tuple[str, str], ...]:
    """A scene's look-alikes that it makes normal, each with the anomaly it must still catch."""
    if value is None:
        return ()
    if version < NA_VERSION:
        fail(key, f"needs 'version: {NA_VERSION}'")
    if not isinstance(value, dict):
        fail(key, "must be a mapping look-alike -> the anomalous description that still catches it")
    out = []
    for term, cue in value.items():
        if not isinstance(term, str) or not term.strip():
            fail(key, f"look-alikes must be non-empty strings, got {term!r}")
        if not isinstance(cue, str) or not cue.strip():
            fail(f"{key}.{term}", f"must name an anomalous description, got {cue!r}")
        out.append((" ".join(term.split()), " ".join(cue.split())))
    return tuple(out)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return problem


def token_counts(texts: list[str], tokenizer) -> list[int]:
    """Tokens per text (start and end tokens included) as the model's tokenizer counts them,
    without the cut at its context length."""
    inner = getattr(tokenizer, "encode", None)
    if inner is not None and hasattr(tokenizer, "sot_token_id"):  # open_clip SimpleTokenizer
        return [len(inner(t)) + 2 for t in texts]
    hf = getattr(tokenizer, "tokenizer", None)  # open_clip HFTokenizer wraps a transformers one
    if hf is not None:
        return [len(hf(t)["input_ids"]) for t in texts]
    raise TypeError(f"cannot count tokens with {type(tokenizer).__name__}")

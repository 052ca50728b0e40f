"""``vad prompts --check``: lint a prompt bank.

Every bank: counts per class and scene, descriptions repeated across lists (or on both sides),
texts longer than the model's text context (PE-Core's is 32 tokens; CLIP's 77), prefixes
included. With an encoder: near-duplicate descriptions (cosine > 0.95).

Version 3 banks (NOVA's normality-aware construction, arXiv 2609.06360 §3.2) also:

- each class: 5-8 confusers, K calm normals (K = the bank's calm anchors, NOVA's K = 4), at
  least M = 20 own normals (calm included) and M anomalous descriptions;
- no normal that applies in every scene (shared or a class's) contains a confuser of *any*
  class, nor "running"/"jogging"/"chasing" (NOVA's ambiguous verbs); a scene's own normal may,
  when the scene ``permits`` that look-alike and lists the anomaly it still catches;
- no description needs what one frame cannot show: legal or intent words (robber, victim,
  stolen, suspect, ...), ownership ("someone else's"), a covered face as a crime cue;
- with an encoder, NOVA's geometry gate (eqs. 1-2): with the prefixes, the cosine of a normal
  description to the normalised anomalous centroid of a class whose pool it joins must not
  exceed 0.70.

Words match after case folding and Snowball (Porter 2) stemming, so "sparred" matches the
confuser "sparring"; articles are ignored and a look-alike of several words matches when they
come in order, at most two words apart ("carrying a sleeping toddler", "carrying a toddler").
Version 1-2 banks keep the checks they had (the encoder check compares each normal with the
bank's anomalous and normal centroids).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from vad.model.prompts import NA_VERSION, PromptBank, token_counts

NEAR_DUPLICATE = 0.95
GATE_THRESHOLD = 0.70  # NOVA's theta (§4.1)
MIN_DESCRIPTIONS = 20  # NOVA's M: descriptions per class and side (§4.1)
CONFUSERS = (5, 8)  # NOVA's step 1 asks for 5-8 look-alikes per class
# NOVA §1, §4.4: verbs close to anomalies that must not describe normality
AMBIGUOUS_VERBS = ("running", "runner", "jogging", "jogger", "chasing")
# what one frame cannot show: legal status, intent, ownership (matched after stemming)
NOT_VISIBLE = (
    "robber",
    "robbing",
    "robbery",
    "thief",
    "thieves",
    "theft",
    "stealing",
    "stole",
    "stolen",
    "burglar",
    "burglary",
    "shoplifting",
    "shoplifter",
    "pickpocketing",
    "looting",
    "looter",
    "victim",
    "suspect",
    "suspicious",
    "criminal",
    "crime",
    "intruder",
    "trespasser",
    "perpetrator",
    "offender",
    "culprit",
    "illegal",
    "illegally",
    "unlawful",
    "arsonist",
    "vandal",
    "vandalizing",
    "kidnapping",
    "abducting",
    "assaulting",
    "abusing",
    "sneaking",
    "lurking",
    "loitering",
    "pretending",
    "unpaid",
    "without paying",
    "without permission",
    "unauthorized",
    "someone else's",
    "another person's property",
    "their own",
    "his own",
    "her own",
    "owner",
)
# a covered face is not a crime cue (winter, rain, health); matched as whole words, not stems
# ("hooded" would stem to the car's "hood")
COVER_WORDS = ("masked", "hooded", "hoodie", "hoodies", "balaclava", "balaclavas")
_ARTICLES = {"a", "an", "the"}


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _ARTICLES]


@lru_cache(maxsize=65536)
def stems(text: str) -> tuple[str, ...]:
    """The words of ``text``, case-folded and stemmed, articles dropped.

    >>> stems("Two boxers Sparred in the ring") == stems("two boxer sparring in a ring")
    True
    """
    return tuple(_stemmer().stemWords(_words(text)))


def contains_term(text: str, term: str, gap: int = 2) -> bool:
    """Whether ``term`` (one or more words) occurs in ``text``: its words in order, after
    stemming both, with at most ``gap`` other words between two of them ("carrying a sleeping
    toddler" contains "carrying a toddler").

    >>> contains_term("friends play-wrestling on a lawn", "play wrestling")
    True
    >>> contains_term("a parent carrying a sleeping toddler", "carrying a toddler")
    True
    >>> contains_term("a person displaying a poster", "playing")
    False
    """
    want, have = stems(term), stems(text)
    if not want or want[0] not in have:
        return False

    def rest_from(i: int, k: int) -> bool:  # want[k:] found after have[i - 1]
        if k == len(want):
            return True
        return any(
            have[j] == want[k] and rest_from(j + 1, k + 1)
            for j in range(i, min(len(have), i + gap + 1))
        )

    return any(have[i] == want[0] and rest_from(i + 1, 1) for i in range(len(have)))


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def model_tokenizer(model: str):
    """(tokenizer or None, context length or None, note) for an open_clip model name, without
    its weights. A tokenizer that must be downloaded (SigLIP's) is replaced by CLIP's, and the
    note says the counts are approximate."""
    import open_clip

    name = model.split(":", 1)[1] if model.startswith("hf-hub:") else model
    cfg = open_clip.get_model_config(name) if not model.startswith("local-dir:") else None
    context = (cfg or {}).get("text_cfg", {}).get("context_length")
    try:
        tok = open_clip.get_tokenizer(model)
        return tok, getattr(tok, "context_length", None) or context, ""
    except Exception as exc:  # noqa: BLE001 - any download/import failure: approximate
        tok = open_clip.get_tokenizer("ViT-B-16")
        note = (
            f"tokenizer of {model} unavailable ({type(exc).__name__}); "
            "token counts approximated with CLIP's"
        )
        return tok, context or tok.context_length, note


def check_bank(
    bank: PromptBank,
    tokenizer=None,
    context_length: int | None = None,
    encode_text=None,
) -> dict:
    """The lint report (JSON-ready). ``problems`` is empty when the bank passes."""
    descs = bank.descriptions()
    problems: list[dict] = []
    classes: dict[str, dict[str, int]] = {c: {"anomalous": 0, "normal": 0} for c in bank.classes}
    for d in descs:
        if d.cls is not None:
            classes[d.cls]["anomalous" if d.anomalous else "normal"] += 1
    scenes = {s.name: {"normal": len(s.normal), "anomalous": len(s.anomalous)} for s in bank.scenes}
    for name, c in classes.items():
        if c["anomalous"] == 0:
            problems.append(
                {"kind": "class_without_anomalous", "text": name, "detail": "only normals"}
            )
    if bank.version >= NA_VERSION:
        for name, c in classes.items():
            c["confusers"] = len(bank.confusers.get(name, []))
            c["calm"] = len(bank.calm.get(name, []))
        problems += normality_problems(bank)
    seen: dict[str, tuple[str, bool]] = {}
    for d in descs:
        where = d.scene or "global"
        k = (_key(d.label), d.scene)
        prev = seen.get(str(k))
        if prev is not None:
            side = "both normal and anomalous" if prev[1] != d.anomalous else "listed twice"
            problems.append({"kind": "duplicate", "where": where, "text": d.label, "detail": side})
        seen[str(k)] = (where, d.anomalous)
    if tokenizer is not None and context_length:
        texts = [t for s in bank.scenes for t in bank.scene_texts(s)]
        for d in descs:  # a wrapped text is its plain text after NOVA's prefix: the longer
            texts += d.wrapped()
        texts = list(dict.fromkeys(texts))
        for text, n in zip(texts, token_counts(texts, tokenizer), strict=True):
            if n > context_length:
                problems.append(
                    {
                        "kind": "too_long",
                        "text": text,
                        "detail": f"{n} tokens > text context {context_length}",
                    }
                )
    if encode_text is not None:
        problems += embedding_problems(bank, encode_text)
    anomalous = sum(d.anomalous for d in descs)
    return {
        "bank": bank.name,
        "source": bank.source,
        "classes": classes,
        "normal": len(descs) - anomalous,
        "anomalous": anomalous,
        "scenes": len(bank.scenes),
        "scene_counts": scenes,
        "context_length": context_length,
        "problems": problems,
    }


def normality_problems(bank: PromptBank) -> list[dict]:
    """The word rules of NOVA's normality-aware construction for a version 3 bank."""
    out: list[dict] = []
    k = len(bank.calm_anchors)
    low, high = CONFUSERS
    for cls in bank.classes:
        confusers = bank.confusers.get(cls, [])
        calm = bank.calm.get(cls, [])
        own = bank.global_normal_classes.count(cls)
        anomalous = bank.global_anomalous_classes.count(cls)
        for ok, detail in (
            (low <= len(confusers) <= high, f"{len(confusers)} confusers (NOVA: {low}-{high})"),
            (len(calm) == k, f"{len(calm)} calm normals, the bank has {k} calm anchors"),
            (own >= MIN_DESCRIPTIONS, f"{own} own normals (NOVA: M = {MIN_DESCRIPTIONS})"),
            (
                anomalous >= MIN_DESCRIPTIONS,
                f"{anomalous} anomalous descriptions (NOVA: M = {MIN_DESCRIPTIONS})",
            ),
        ):
            if not ok:
                out.append({"kind": "class_size", "where": "global", "text": cls, "detail": detail})
    forbidden = [(c, f"a confuser of {cls}") for cls in bank.classes for c in bank.confusers[cls]]
    forbidden += [(v, "an ambiguous verb (NOVA)") for v in AMBIGUOUS_VERBS]

    def look_alikes(text: str) -> list[tuple[str, str]]:
        return [(term, why) for term, why in forbidden if contains_term(text, term)]

    for text in bank.global_normal:  # shared and class normals apply in every scene
        for term, why in look_alikes(text):
            out.append(_look_alike("global", text, term, why))
    for scene in bank.scenes:
        permitted = dict(scene.permits)
        anomalous = {_key(a) for a in scene.anomalous}
        for term, cue in scene.permits:
            if not any(_key(term) == _key(t) for t, _ in forbidden):
                out.append(
                    {
                        "kind": "permit",
                        "where": scene.name,
                        "text": term,
                        "detail": "permits a word that is no confuser and no ambiguous verb",
                    }
                )
            if _key(cue) not in anomalous:
                out.append(
                    {
                        "kind": "permit",
                        "where": scene.name,
                        "text": term,
                        "detail": f"its cue {cue!r} is not among the scene's anomalous",
                    }
                )
        for text in scene.normal:
            for term, why in look_alikes(text):
                if not any(_key(term) == _key(p) for p in permitted):
                    out.append(_look_alike(scene.name, text, term, why))
    for d in bank.descriptions():
        where = d.scene or "global"
        for term in NOT_VISIBLE:
            if contains_term(d.label, term):
                out.append(
                    {
                        "kind": "not_visible",
                        "where": where,
                        "text": d.label,
                        "detail": f"{term!r}: one frame shows no ownership, intent or legal status",
                    }
                )
        covered = set(_words(d.label)) & set(COVER_WORDS)
        for word in sorted(covered):
            out.append(
                {
                    "kind": "not_visible",
                    "where": where,
                    "text": d.label,
                    "detail": f"{word!r}: a covered face is not a crime cue",
                }
            )
    return out


def _look_alike(where: str, text: str, term: str, why: str) -> dict:
    return {
        "kind": "look_alike_normal",
        "where": where,
        "text": text,
        "detail": f"contains {term!r}, {why}",
    }


def embedding_problems(bank: PromptBank, encode_text) -> list[dict]:
    """Near-duplicates (cosine > 0.95); for a version 3 bank, NOVA's geometry gate; for
    older banks, normals closer to the bank's anomalous centroid than to its normal one."""
    from vad.scoring.text import TextEmbeddings

    if bank.version >= NA_VERSION:
        text = TextEmbeddings.build(bank, encode_text, repulsive=True)  # with NOVA's prefixes
    else:
        text = TextEmbeddings.build(bank, encode_text)
    emb = text.descriptions.astype(np.float64)
    out: list[dict] = []
    sims = emb @ emb.T
    i, j = np.nonzero(np.triu(sims, 1) > NEAR_DUPLICATE)
    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        out.append(
            {
                "kind": "near_duplicate",
                "text": text.labels[a],
                "detail": f"cosine {sims[a, b]:.3f} to {text.labels[b]!r}",
            }
        )
    if bank.version >= NA_VERSION:
        return out + geometry_gate(text, GATE_THRESHOLD, bank.scene_names)
    anom, norm = text.anomalous, ~text.anomalous
    if anom.any() and norm.any():
        ca = emb[anom].mean(axis=0)
        cn = emb[norm].mean(axis=0)
        ca /= np.linalg.norm(ca)
        cn /= np.linalg.norm(cn)
        for m in np.flatnonzero(norm):
            to_a, to_n = float(emb[m] @ ca), float(emb[m] @ cn)
            if to_a > to_n:
                out.append(
                    {
                        "kind": "normal_near_anomalous",
                        "text": text.labels[m],
                        "detail": f"cosine {to_a:.3f} to the anomalous centroid, "
                        f"{to_n:.3f} to the normal one",
                    }
                )
    return out


def geometry_gate(
    text, threshold: float = GATE_THRESHOLD, scene_names: list[str] | None = None
) -> list[dict]:
    """NOVA's geometry gate (eqs. 1-2) on embeddings made with the prefixes: a normal
    description whose cosine to the normalised anomalous centroid of a class exceeds
    ``threshold``, for every class whose normal pool it joins. A class's centroid is that of
    its global anomalous descriptions (NOVA's P_c); its pool, its own normals and the scene
    normals (:func:`vad.scoring.heads.normal_pool`). Shared normals, in no class's pool, are held to
    every class. A scene's unclassed anomalies are a class of that scene, whose pool is the
    shared normals and the scene's own."""
    from vad.scoring.heads import normal_pool

    emb = np.asarray(text.descriptions, np.float64)
    anomalous, classes, scene = text.anomalous, text.classes, text.scene_index
    shared = ~anomalous & (classes < 0) & (scene < 0)
    groups = []  # (name, anomalous members, pool)
    for c in np.unique(classes[anomalous & (classes >= 0)]).tolist():
        members = anomalous & (classes == c)
        if (members & (scene < 0)).any():
            members &= scene < 0
        pool = np.zeros(len(emb), bool)
        pool[normal_pool(anomalous, classes, c, text.shared_normal)] = True
        groups.append((text.class_names[c], members, pool | shared))
    for s in np.unique(scene[anomalous & (classes < 0)]).tolist():
        members = anomalous & (classes < 0) & ((scene < 0) | (scene == s))
        pool = ~anomalous & (classes < 0) & ((scene < 0) | (scene == s))
        where = scene_names[s] if scene_names else f"scene {s}"
        groups.append((f"{where}: unclassed anomalies", members, pool))
    out: list[dict] = []
    for name, members, pool in groups:
        centroid = emb[members].mean(axis=0)
        centroid /= max(np.linalg.norm(centroid), 1e-12)
        for m in np.flatnonzero(pool):
            g = float(emb[m] @ centroid)
            if g > threshold:
                out.append(
                    {
                        "kind": "geometry_gate",
                        "where": name,
                        "text": text.labels[m],
                        "detail": f"cosine {g:.3f} to the anomalous centroid of {name} "
                        f"> {threshold:.2f} (NOVA)",
                    }
                )
    return out


def report_text(report: dict) -> str:
    lines = [
        f"prompt bank '{report['bank']}' ({report['source']}): {report['normal']} normal, "
        f"{report['anomalous']} anomalous descriptions, {report['scenes']} scenes"
    ]
    for name, c in report["classes"].items():
        line = f"  class {name}: {c['anomalous']} anomalous, {c['normal']} normal"
        if "confusers" in c:
            line += f" ({c['calm']} calm), {c['confusers']} confusers"
        lines.append(line)
    for name, c in report["scene_counts"].items():
        lines.append(f"  scene {name}: {c['normal']} normal, {c['anomalous']} anomalous")
    if report["problems"]:
        lines.append(f"{len(report['problems'])} problem(s):")
        for p in report["problems"]:
            lines.append(
                f"  {p['kind']}: {p.get('where', '') and p['where'] + ': '}"
                f"{p['text']!r} ({p['detail']})"
            )
    else:
        lines.append("no problems")
    return "\n".join(lines)

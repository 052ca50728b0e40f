"""``vad prompts --check``: lint a prompt bank.

Without an encoder: counts per class and scene, descriptions repeated across lists (or on both
sides), texts longer than the model's text context (PE-Core's is 32 tokens; CLIP's 77). With an
encoder: near-duplicate descriptions (cosine > 0.95) and normal descriptions closer to the
anomalous centroid than to the normal one (NOVA's geometry gate, docs/quality.md).
"""

from __future__ import annotations

import re

import numpy as np

from vad.prompts import PromptBank, token_counts

NEAR_DUPLICATE = 0.95


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
        for d in descs:
            texts += [*d.texts, *d.wrapped()]
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


def embedding_problems(bank: PromptBank, encode_text) -> list[dict]:
    """Near-duplicates (cosine > 0.95) and normals closer to the anomalous centroid."""
    from vad.scoring import TextEmbeddings

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


def report_text(report: dict) -> str:
    lines = [
        f"prompt bank '{report['bank']}' ({report['source']}): {report['normal']} normal, "
        f"{report['anomalous']} anomalous descriptions, {report['scenes']} scenes"
    ]
    for name, c in report["classes"].items():
        lines.append(f"  class {name}: {c['anomalous']} anomalous, {c['normal']} normal")
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

"""``vad models``: the suggested models and whether their weights are cached."""

from __future__ import annotations

import argparse

SUGGESTED_MODELS = [
    ("ViT-B-16", "openai", "default: the literature's zero-shot CLIP baseline"),
    ("ViT-B-32-256", "datacomp_s34b_b86k", "fast"),
    ("ViT-B-32", "openai", "fastest"),
    ("ViT-L-14", "dfn2b", "accurate (GPU)"),
    ("ViT-L-14-quickgelu", "dfn2b", "accurate, QuickGELU config"),
    ("ViT-H-14-quickgelu", "dfn5b", "most accurate (GPU)"),
    ("PE-Core-L-14-336", "meta", "accurate preset: best published VAD evidence (GPU)"),
    ("ViT-L-16-SigLIP2-384", "webli", "SigLIP 2 (GPU; tokenizer from the HF hub)"),
    ("MobileCLIP2-S4", "dfndr2b", "MobileCLIP 2"),
]


def add_models_parser(sub) -> None:
    """``vad models``: the suggested models and their cache state."""
    models = sub.add_parser("models", help="suggested models and whether weights are cached")
    models.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    from huggingface_hub import constants

    from vad.cache import default_cache_dir
    from vad.model.encoder import _weights_cached

    print(f"{'model':<22} {'pretrained':<22} {'cached':<7} note")
    for model, tag, note in SUGGESTED_MODELS:
        cached = "yes" if _weights_cached(model, tag, None) else "no"
        print(f"{model:<22} {tag:<22} {cached:<7} {note}")
    print(
        "\nAny open_clip model works too: --model NAME --pretrained TAG|FILE, "
        "--model local-dir:PATH or --model hf-hub:ORG/REPO."
        f"\nWeights cache: {constants.HF_HUB_CACHE} (the Hugging Face hub's; $HF_HOME or "
        "$HF_HUB_CACHE move it)."
        f"\nvad's cache (frame and prompt embeddings): {default_cache_dir()} ($VAD_CACHE_DIR or "
        "--cache-dir move it)."
    )
    return 0

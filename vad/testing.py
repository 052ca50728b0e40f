"""Helpers for tests, benchmarks and demos: tiny OpenCLIP models with random weights.

No pretrained weights are needed: ``make_tiny_model_dir`` writes an ``open_clip_config.json``
and a randomly initialised ``open_clip_model.safetensors`` that ``--model local-dir:PATH`` loads.
Scores from such a model are meaningless; the pipeline around it is real.
"""

from __future__ import annotations

import json
from pathlib import Path

TINY_MODEL_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def make_tiny_model_dir(folder: str | Path, seed: int = 0, cfg: dict | None = None) -> Path:
    """Write a tiny random OpenCLIP model to ``folder`` (config + safetensors weights)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = cfg or TINY_MODEL_CFG
    torch.manual_seed(seed)
    model = open_clip.CLIP(**cfg)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    config = {
        "random_weights": True,  # vad flags such a model's scores as meaningless
        "model_cfg": cfg,
        "preprocess_cfg": {
            "mean": list(open_clip.OPENAI_DATASET_MEAN),
            "std": list(open_clip.OPENAI_DATASET_STD),
            "interpolation": "bicubic",
            "resize_mode": "shortest",
        },
    }
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=1))
    return folder


_TEXT = {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}
_OPENAI = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]}
REDUCED_PRESET_CFGS = {
    # configs/default.yaml: ViT-B-16 with OpenAI's weights, QuickGELU
    "ViT-B-16-quickgelu": {
        "embed_dim": 64,
        "quick_gelu": True,
        "vision_cfg": {"image_size": 224, "layers": 2, "width": 96, "patch_size": 16,
                       "head_width": 48},
        "text_cfg": _TEXT,
    },
    # configs/fast.yaml: ViT-B-32 at 256 px
    "ViT-B-32-256": {
        "embed_dim": 64,
        "vision_cfg": {"image_size": 256, "layers": 2, "width": 96, "patch_size": 32,
                       "head_width": 48},
        "text_cfg": _TEXT,
    },
    # configs/accurate.yaml: PE-Core-L-14-336, timm's Perception Encoder (EVA, RoPE, attention
    # pooling) with open_clip's custom text tower and a 32-token context; the tiny member of the
    # family, with a 2-layer text tower
    "PE-Core-L-14-336": {
        "embed_dim": 64,
        "vision_cfg": {"image_size": 384, "timm_model_name": "vit_pe_core_tiny_patch16_384",
                       "timm_model_pretrained": False, "timm_pool": "map", "timm_proj": None},
        "text_cfg": {**_TEXT, "context_length": 32},
        "custom_text": True,
    },
}  # fmt: skip
"""Reduced-width and -depth configs of the shipped presets' architectures (the same open_clip
and timm code paths, a fraction of the cost), for tests with random weights."""


def make_config_dir(folder: str | Path, cfg: dict) -> Path:
    """A ``local-dir:`` model folder with only a config: open_clip initialises it at random
    (seeded by vad, so the same weights every time)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "model_cfg": cfg,
        "preprocess_cfg": {**_OPENAI, "interpolation": "bicubic", "resize_mode": "shortest"},
    }
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=1))
    return folder

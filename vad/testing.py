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

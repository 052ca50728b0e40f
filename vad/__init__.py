"""vad: context-aware, zero-shot video anomaly detection with OpenCLIP.

>>> from vad import Detector                                   # doctest: +SKIP
>>> result = Detector(context="auto").score("clip.mp4")         # doctest: +SKIP
>>> result["scores"][:3]                                        # doctest: +SKIP
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public names, imported on first use so that `import vad.media` (e.g. in the decode worker
# process) does not pay for torch and open_clip.
_EXPORTS = {
    "Detector": "vad.pipeline",
    "EmbeddingCache": "vad.cache",
    "VideoEmbeddings": "vad.cache",
    "FrameSampler": "vad.media.sampler",
    "VideoError": "vad.media.frames",
    "PromptBank": "vad.model.prompts",
    "PromptBankError": "vad.model.prompts",
    "ClipEncoder": "vad.model.encoder",
    "build_encoder": "vad.model.runtime",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vad' has no attribute {name!r}")

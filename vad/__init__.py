"""vad: context-aware, zero-shot video anomaly detection with OpenCLIP.

>>> from vad import Detector                                   # doctest: +SKIP
>>> result = Detector(context="auto").score("clip.mp4")         # doctest: +SKIP
>>> result["scores"][:3]                                        # doctest: +SKIP
"""

__version__ = "0.1.0"

from vad.cache import EmbeddingCache, VideoEmbeddings  # noqa: E402
from vad.pipeline import Detector  # noqa: E402
from vad.prompts import PromptBank, PromptBankError  # noqa: E402
from vad.video import FrameSampler, VideoError  # noqa: E402

__all__ = [
    "Detector",
    "EmbeddingCache",
    "FrameSampler",
    "PromptBank",
    "PromptBankError",
    "VideoEmbeddings",
    "VideoError",
    "__version__",
]

"""The model: OpenCLIP image and text towers behind one encoder interface, on torch
(:mod:`~vad.model.encoder`) or OpenVINO (:mod:`~vad.model.openvino`), chosen by
:func:`~vad.model.runtime.build_encoder`; model names and weights' identities
(:mod:`~vad.model.modelid`), the image preprocessing that runs in the decode worker without
torch (:mod:`~vad.model.preprocess`), and the prompt banks, the texts the frames are compared
with (:mod:`~vad.model.prompts`).

May import: the top-level shared modules and :mod:`vad.media`. torch, open_clip and openvino
are imported inside functions, only when a model is loaded.
"""

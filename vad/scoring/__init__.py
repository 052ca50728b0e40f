"""Scoring: from frame embeddings (float32 N,D) and the prompt bank's text embeddings to one
anomaly probability per sampled frame. Scene context (:mod:`~vad.scoring.context`), the heads,
anchors and kNN refinement (:mod:`~vad.scoring.heads`), the recipe that runs them
(:mod:`~vad.scoring.score`, with the text side in :mod:`~vad.scoring.text`), smoothing, the
motion gate and events (:mod:`~vad.scoring.temporal`), what drove an event
(:mod:`~vad.scoring.explain`), a camera's calibration (:mod:`~vad.scoring.calibration`),
search by text or image (:mod:`~vad.scoring.search`) and the prompt-bank lint, which scores
banks against themselves (:mod:`~vad.scoring.promptlint`).

May import: the top-level shared modules, :mod:`vad.media` and :mod:`vad.model`. Everything
here is numpy: a warm run scores without importing torch.
"""

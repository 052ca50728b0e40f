"""Evaluation on labelled test sets (``vad eval``): annotation readers and ground-truth
protocols (:mod:`~vad.evaluation.datasets`), the frame-level metrics, pure and doctested
(:mod:`~vad.evaluation.metrics`), the runner that scores a test set with an engine
(:mod:`~vad.evaluation.runner`), ablation grids re-scoring its embeddings
(:mod:`~vad.evaluation.ablation`) and the HTML report (:mod:`~vad.evaluation.report`).

May import: everything below it, up to :mod:`vad.outputs`; never :mod:`vad.live` or the CLI.
"""

"""Engines: score a list of videos, yield one :class:`~vad.engines.protocol.VideoOutcome` per
video (:class:`~vad.engines.protocol.Engine`). :class:`~vad.engines.local.LocalEngine` runs a
:class:`~vad.pipeline.Detector` in this process; :mod:`vad.engines.ray` runs the same code on
a Ray cluster. Engines never print and never write score files: their consumers do.

May import: everything below it (the shared modules, media, model, scoring, the pipeline).
Ray is imported only inside :mod:`vad.engines.ray`, when a Ray run starts.
"""

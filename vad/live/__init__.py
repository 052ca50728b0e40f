"""Live scoring (``vad watch``): sources read in threads (:mod:`~vad.live.stream`), camera
health (:mod:`~vad.live.health`), scores computed sample by sample from the past only
(:mod:`~vad.live.livescore`, its heads in :mod:`~vad.live.scopes`), events and their alerts
(:mod:`~vad.live.alerts`), and the loop that ties them together (:mod:`~vad.live.watch`).

May import: everything below it, up to :mod:`vad.outputs`; never :mod:`vad.evaluation` or the
CLI.
"""

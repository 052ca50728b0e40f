"""Outputs: what a run leaves on disk. The result files ``<stem>.json``/``<stem>.csv``
(:mod:`~vad.outputs.results`), the inputs a run gets and the names their outputs take
(:mod:`~vad.outputs.naming`), the runner that writes an engine's outcomes as they arrive
(:mod:`~vad.outputs.runner`) and the files to look at: score plots (:mod:`~vad.outputs.plot`),
overlay videos (:mod:`~vad.outputs.overlay`) and the review page (:mod:`~vad.outputs.page`),
with the texts they share (:mod:`~vad.outputs.captions`), made for a run by
:func:`~vad.outputs.visualize.review_outputs`.

May import: everything below it, up to :mod:`vad.engines` (the runner consumes an engine's
outcomes). matplotlib and OpenCV are imported inside the functions that draw.
"""

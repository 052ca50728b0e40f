"""Media: from a file (or a live source's frames) to sampled, resized frames. Input files are
found and checked (:mod:`~vad.media.files`), decoded by a backend - PyAV, OpenCV or decord
(:mod:`~vad.media.decoders`) - into :class:`~vad.media.frames.FrameBatch` es sampled by
timestamp (:mod:`~vad.media.sampler`), in a worker process of its own that resizes and crops
them to the model's input (:mod:`~vad.media.worker`, the program ``python -m vad.worker``).

May import: the top-level shared modules (errors, console, cache, ...). Nothing here imports
a model, a scoring head, torch or open_clip: the decode worker starts fast and small.
"""

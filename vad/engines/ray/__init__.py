"""The Ray engine, by stage: :mod:`~vad.engines.ray.plan` (the run's plan and each video's
segments; the model probed once by :mod:`~vad.engines.ray.probe`),
:mod:`~vad.engines.ray.decode` (CPU tasks), :mod:`~vad.engines.ray.actor` (the model actors),
:mod:`~vad.engines.ray.stitch` (a video's segments joined on the driver) and
:mod:`~vad.engines.ray.run` (:class:`~vad.engines.ray.run.RayEngine` and the loop that drives
the stages); rows pass between stages in one schema (:mod:`~vad.engines.ray.rows`), and Ray
itself is set up in :mod:`~vad.engines.ray.cluster`.

May import: what :mod:`vad.engines` may. Ray pickles the functions and classes given to it by
module path and ships this ``vad`` to the cluster's workers (``runtime_env``), so they import
these modules by the same names.
"""

"""From parsed options to the objects the verbs run: the detector's settings (the preset,
overridden by the flags given: :func:`detector_settings`), the :class:`~vad.pipeline.Detector`,
the engine ``--engine`` names (:func:`build_engine`) and a ``--calibration``. Heavy modules
are imported here, on use, never when the parser is built."""

from __future__ import annotations

import argparse

from vad.errors import UsageError

DETECTOR_KEYS = tuple(
    "model pretrained context context_window_s prompts sample_fps batch_size device precision "
    "runtime smoothing window_s event_threshold backend decode_timeout_s head anchor refine "
    "motion_gate".split()
)


def detector_settings(args: argparse.Namespace) -> dict:
    """The preset, overridden by every flag the user gave."""
    from vad.config import load_config

    settings = load_config(args.config)
    for key in DETECTOR_KEYS:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    if args.cache_dir:
        settings["cache_dir"] = args.cache_dir
    settings["use_cache"] = not args.no_cache
    return settings


def driver_settings(args: argparse.Namespace, settings: dict) -> dict:
    """The settings of the model this process loads. With ``--engine ray`` it only encodes
    texts (prompt banks, a free-text context; the actors encode the frames on their own
    device), so it runs on this machine's CPU in fp32: a head node without a GPU can run
    ``--device cuda``, and no GPU that Ray gives an actor holds an extra model: for GPU actors
    torch in fp32, for CPU actors their own runtime and precision (the bank encoded as they
    would encode it). (Its text embeddings are what the Ray engine's driver scores with,
    docs/ray.md.)"""
    if args.engine != "ray":
        return settings
    if str(settings.get("device") or "auto").startswith("cuda"):
        return {**settings, "device": "cpu", "precision": "fp32", "runtime": "torch"}
    return {**settings, "device": "cpu"}


def build_detector(settings: dict):
    from vad.pipeline import Detector

    return Detector(**settings)


def load_encoder_or_exit(detector) -> None:
    """Load the model up front so a weights problem is one usage error, not N failures."""
    detector.encoder  # noqa: B018 - property loads the model


def build_engine(args: argparse.Namespace, settings: dict, detector, encoder=None):
    """The engine ``--engine`` names: the local one around ``detector``, or Ray with the
    same settings (``encoder``: a model already loaded here, to validate them with)."""
    if args.engine == "ray":
        from vad.engines.ray.run import RayEngine

        return RayEngine(
            settings,
            address=args.ray_address,
            workers=args.workers,
            gpus_per_worker=args.num_gpus_per_worker,
            ray_progress=args.verbose,
            encoder=encoder,
            **({} if args.segment_s is None else {"segment_s": args.segment_s}),
        )
    from vad.engines.local import LocalEngine

    return LocalEngine(detector)


def apply_calibration_option(args: argparse.Namespace, detector):
    """``--calibration``: load it and set the detector's threshold and novelty term."""
    if not getattr(args, "calibration", None):
        return None
    from vad.scoring.calibration import CalibrationError, apply_calibration, load_calibration

    try:
        calibration = load_calibration(args.calibration)
        return apply_calibration(
            detector, calibration, args.false_alarms_per_hour, context_given=bool(args.context)
        )
    except CalibrationError as exc:
        raise UsageError(str(exc)) from exc

"""The model as the driver needs it, without importing torch there: a one-off Ray task
(:func:`probe_model`) loads it, encodes the prompt bank and returns plain numpy data, which
:class:`ProbedModel` stands in for on the driver; or the model is loaded here
(:func:`_load_here`). Also which runtime and precision the actors will run
(:func:`actor_facts`, :func:`cuda_auto_precision` asked of a GPU)."""

from __future__ import annotations

import logging
import pickle

import numpy as np

from vad.engines.ray.cluster import TASK_RETRIES, RayEngineError, _describe_ray_error

log = logging.getLogger(__name__)


def _driver_settings(settings: dict, device: str) -> dict:
    """How the driver (or its probe) loads the model, on a CPU, decoding nothing: with the
    actors' runtime and precision when they run on CPUs too (so the prompt bank is encoded as
    they would encode it); for GPU actors, torch in fp32 (it encodes texts only: no export)."""
    if device.startswith("cuda"):
        return {"device": "cpu", "precision": "fp32", "runtime": "torch", "isolate_decoding": False}
    precision = settings.get("precision") or "auto"
    return {"device": "cpu", "precision": precision, "isolate_decoding": False}


def actor_facts(encoder, device: str, precision: str) -> dict:
    """``{"runtime", "precision"}`` of the actors' encoders: on CPUs, what ``encoder`` (loaded
    on a CPU with the same settings) computes with; on GPUs, torch at the GPU's precision
    (None for ``auto``: the GPU decides, :func:`_gpu_precision`)."""
    from vad.model.runtime import encoder_facts

    if not device.startswith("cuda"):
        return encoder_facts(encoder)
    return {"runtime": "torch", "precision": _resolve_precision(precision, device)}


def _resolve_precision(precision: str, device: str) -> str | None:
    """The actors' precision, where it does not depend on their GPU; None for ``auto`` on a
    GPU (bf16 or fp16, the GPU decides: :func:`_gpu_precision`)."""
    import torch

    from vad.model.encoder import resolve_precision

    if device == "cuda" and precision == "auto":
        return None
    return resolve_precision(precision, torch.device(device))


def cuda_auto_precision() -> str:
    """What ``--precision auto`` means on this process's GPU (run on one of the actors')."""
    import torch

    from vad.model.encoder import resolve_precision

    return resolve_precision("auto", torch.device("cuda"))


def _gpu_precision(ray, gpus_per_worker: float) -> str:
    """``--precision auto`` for GPU actors: a one-off task on one of the cluster's GPUs asks
    it (the driver may have no GPU, or another kind). The cluster's GPUs are taken to be
    alike; with mixed generations give ``--precision fp16`` (every GPU has it)."""
    if ray is None or not ray.is_initialized():
        raise RayEngineError("--precision auto on Ray GPUs needs a running Ray to ask them")
    task = ray.remote(num_cpus=0, num_gpus=min(gpus_per_worker, 1.0), max_calls=1,
                      max_retries=TASK_RETRIES)(cuda_auto_precision)  # fmt: skip
    try:
        return ray.get(task.remote())
    except Exception as exc:
        raise RayEngineError(
            f"cannot ask the Ray cluster's GPUs which precision they run: "
            f"{_describe_ray_error(exc)} (or give --precision fp16|bf16|fp32)"
        ) from exc


def _load_here(scorer, device: str, precision: str):
    """The model loaded on the driver (on CPU; or the one ``scorer`` was given): ``(encoder,
    the actors' runtime and precision, the precision None for auto on GPUs)``."""
    own_model = scorer._encoder is None
    encoder = scorer.encoder  # loads the model: WeightsUnavailable is a usage error
    scorer.text_embeddings()  # the prompt bank, encoded once here
    if own_model and getattr(encoder, "model", None) is not None:
        # The driver never encodes an image, and a text only for a free-text context: free
        # what it will not use (the actors hold the model).
        if scorer.context.strip().lower() in ("auto", "none"):
            encoder.model = None
        elif hasattr(encoder.model, "visual"):
            import torch

            encoder.model.visual = torch.nn.Identity()
    # the actors' encoder runs on `device`, where the precision may differ from the driver's
    return encoder, actor_facts(encoder, device, precision)


class ProbedModel:
    """The driver's stand-in for the model, from :func:`probe_model`: what scoring reads of
    an encoder (logit scale, identity, labels) and the texts it will need, as numpy."""

    def __init__(self, facts: dict):
        self._identity = facts["identity"]
        self._texts = facts["texts"]
        self.cacheable = facts["cacheable"]
        self.random_weights = facts["random_weights"]
        self.pretrained_label = facts["pretrained_label"]
        self.logit_scale = facts["logit_scale"]
        self.preprocess_blob = facts["preprocess"]

    def identity(self) -> dict:
        return dict(self._identity)

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """The embeddings of texts the probe encoded (a free-text context's)."""
        missing = [t for t in texts if t not in self._texts]
        if missing:
            raise RuntimeError(f"the Ray engine's driver has no model to encode {missing[0]!r}")
        return np.stack([self._texts[t] for t in texts]).astype(np.float32)


def probe_model(settings: dict, bank, device: str) -> dict:
    """Run by a one-off Ray task whose process then exits: load the model on CPU as the driver
    would, encode the prompt bank ``bank`` (or read it from the text cache) and a free-text
    context, and return what the driver needs as plain data. A problem the user must fix (weights
    missing, a bad precision) comes back as ``{"error": message}``; vad's log lines come back
    as ``{"log": [(level, message), ...]}`` for the driver to print."""
    from vad.pipeline import Detector

    records: list[tuple[int, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append((record.levelno, record.getMessage()))

    vad_log, root = logging.getLogger("vad"), logging.getLogger()
    saved = (vad_log.handlers[:], vad_log.level, vad_log.propagate, root.level)
    vad_log.handlers[:], vad_log.propagate = [Keep()], False
    vad_log.setLevel(logging.INFO)
    root.setLevel(logging.ERROR)  # open_clip's own "no pretrained weights" (vad says it)
    try:
        from vad.errors import WeightsUnavailable

        precision = settings.get("precision") or "auto"
        driver = _driver_settings(settings, device)
        det = Detector(**{**settings, **driver, "prompts": bank})  # the driver's, read by it
        try:
            encoder = det.encoder
            made_by = actor_facts(encoder, device, precision)
        except (WeightsUnavailable, ValueError) as exc:  # the driver is the command line's
            return {"error": getattr(exc, "cli_message", None) or str(exc), "log": records}
        text = det.text_embeddings()
        texts: dict[str, np.ndarray] = {}
        context = det.context.strip()
        if context.lower() not in ("auto", "none") and bank.find_scene(context) is None:
            queries = [t.format(scene=context) for t in bank.scene_templates]
            texts = dict(zip(queries, encoder.encode_text(queries), strict=True))
        return {
            "identity": encoder.identity(),
            "made_by": made_by,
            "cacheable": bool(getattr(encoder, "cacheable", False)),
            "random_weights": bool(getattr(encoder, "random_weights", False)),
            "pretrained_label": getattr(encoder, "pretrained_label", det.pretrained),
            "logit_scale": float(encoder.logit_scale),
            "preprocess": pickle.dumps(encoder.preprocess),
            "text": text,
            "texts": texts,
            "log": records,
        }
    finally:
        vad_log.handlers[:], vad_log.level, vad_log.propagate = saved[:3]
        root.setLevel(saved[3])


def _probed(ray, scorer, device: str, precision: str):
    """:func:`probe_model` in a Ray task of its own (``max_calls=1``: its process, torch and
    the model go when it ends): ``(stand-in encoder, the actors' runtime and precision)``."""
    task = ray.remote(num_cpus=1, max_calls=1, max_retries=TASK_RETRIES)(probe_model)
    settings = {k: getattr(scorer, k) for k in ("model", "pretrained", "context", "head",
                                                "anchor", "refine", "motion_gate",
                                                "use_cache", "runtime")}  # fmt: skip
    settings.update(cache_dir=str(scorer.cache_dir), precision=precision)
    try:
        facts = ray.get(task.remote(settings, scorer.bank, device))
    except Exception as exc:
        raise RayEngineError(
            f"the Ray workers cannot load the model: {_describe_ray_error(exc)}"
        ) from exc
    for level, message in facts["log"]:
        log.log(level, "%s", message)
    if "error" in facts:
        raise RayEngineError(facts["error"])
    model = ProbedModel(facts)
    scorer._encoder = model
    scorer._text[scorer.scoring.repulsive] = facts["text"]  # what text_embeddings() gives
    return model, facts["made_by"]

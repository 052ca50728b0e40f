"""The option groups several verbs share, declared once: the detector's (model, context,
sampling, decoding; the ones a ``--config`` preset sets), the scoring recipe's, the engine's
(``--engine ray`` and its cluster options), calibration and review outputs; and the checks of
flag values (:func:`check_flags`, which defers to :func:`vad.config.check_value`, the one
place numbers are validated)."""

from __future__ import annotations

import argparse

from vad.errors import UsageError
from vad.model.runtime import PRECISIONS, RUNTIMES

# flag -> setting checked by vad.config's rule table (the one place numbers are validated)
CHECKED_FLAGS = {
    "--model": "model",
    "--context": "context",
    "--prompts": "prompts",
    "--context-window": "context_window_s",
    "--sample-fps": "sample_fps",
    "--batch-size": "batch_size",
    "--device": "device",
    "--window": "window_s",
    "--event-threshold": "event_threshold",
    "--decode-timeout": "decode_timeout_s",
    "--workers": "workers",
    "--num-gpus-per-worker": "num_gpus_per_worker",
    "--limit": "limit",
    "--ablate-windows": "ablate_windows",
    "--ablate-contexts": "context",
}


DESTS = {"--ablate-windows": "ablate_windows", "--ablate-contexts": "ablate_contexts"}


def check_flags(args: argparse.Namespace) -> None:
    """Every numeric and text flag given, checked by :func:`vad.config.check_value` (NaN,
    infinities, out of range, empty text): :class:`UsageError` naming the flag."""
    from vad.config import check_value

    for flag, key in CHECKED_FLAGS.items():
        value = getattr(args, DESTS.get(flag, key), None)
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            try:
                check_value(key, item)
            except ValueError as exc:
                raise UsageError(f"{flag}: {exc}") from None


def preset_defaults() -> dict:
    """The shipped ``default`` preset, for --help (what a flag left out means)."""
    try:
        from vad.config import load_config

        return load_config("default")
    except Exception:  # noqa: BLE001 - --help must answer even from a broken install
        return {}


SCORING_ONLY = {"--context", "--context-window", "--prompts", "--smoothing", "--window",
                "--event-threshold"}  # fmt: skip


def add_detector_options(p: argparse.ArgumentParser, encoding_only: bool = False) -> None:
    """Model, context and sampling options shared by ``score`` and ``eval``; with
    ``encoding_only``, those that shape the frame embeddings (``vad search``)."""
    d = preset_defaults()

    def default(key: str, fallback: str = "") -> str:
        value = d.get(key, fallback)
        return f" (default: {value})" if value not in ("", None) else ""

    g = p.add_argument_group(
        "detector (override the --config preset; defaults shown are the 'default' preset's)"
    )

    def add(flag: str, *more: str, **kw) -> None:
        if not (encoding_only and flag in SCORING_ONLY):
            g.add_argument(flag, *more, **kw)

    add(
        "--config",
        default="default",
        help="run preset: YAML file or shipped name (default: %(default)s)",
    )
    add(
        "--model",
        help="OpenCLIP model, local-dir:PATH or hf-hub:ORG/REPO" + default("model"),
    )
    add(
        "--pretrained",
        help="weights: open_clip tag, checkpoint file, or none" + default("pretrained"),
    )
    add(
        "--context",
        help="auto | none | free text naming the scene" + default("context", "auto"),
    )
    add(
        "--context-window",
        type=float,
        dest="context_window_s",
        metavar="SECONDS",
        help="infer the context per sliding window of this length (default: video)",
    )
    add(
        "--prompts",
        help="prompt bank: YAML file or shipped name" + default("prompts", "default"),
    )
    add(
        "--sample-fps",
        type=float,
        help="frames per second to encode, by timestamp" + default("sample_fps", "2.0"),
    )
    add(
        "--batch-size",
        type=int,
        help="frames per encoder batch" + default("batch_size", "32"),
    )
    add(
        "--device",
        metavar="{auto,cpu,cuda,cuda:N}",
        help="where the model runs (cuda:N: the N-th GPU)" + default("device", "auto"),
    )
    add(
        "--runtime",
        choices=list(RUNTIMES),
        help="what runs the model: auto = OpenVINO on a CPU, torch on a GPU"
        + default("runtime", "auto"),
    )
    add(
        "--precision",
        choices=list(PRECISIONS),
        help="auto = bf16 where the CPU does it natively (OpenVINO), fp16 on a GPU, else fp32; "
        "int8: OpenVINO only, experimental" + default("precision", "auto"),
    )
    add(
        "--smoothing",
        choices=["gaussian", "mean", "median", "none"],
        help="temporal smoothing" + default("smoothing", "gaussian"),
    )
    add(
        "--window",
        type=float,
        dest="window_s",
        metavar="SECONDS",
        help="smoothing window in seconds (Gaussian sigma; 0: none)" + default("window_s", "2.0"),
    )
    add(
        "--event-threshold",
        type=float,
        help="score in [0, 1] at which a span is an event" + default("event_threshold", "0.5"),
    )
    add(
        "--backend",
        choices=["auto", "pyav", "opencv", "decord"],
        help="video decoder (auto: PyAV, then OpenCV, then decord)" + default("backend", "auto"),
    )
    add(
        "--decode-timeout",
        type=float,
        dest="decode_timeout_s",
        metavar="SECONDS",
        help="give up on a video whose decoding makes no progress for this long (default: 60)",
    )
    add("--cache-dir", help="embedding cache folder (default: user cache dir)")
    add(
        "--no-cache",
        action="store_true",
        help="neither read nor write the videos' cached embeddings (model exports and prompt-bank "
        "embeddings are kept and reused)",
    )
    if not encoding_only:
        add_scoring_options(p)


def add_scoring_options(p: argparse.ArgumentParser) -> None:
    """The scoring recipe (docs/quality.md); ``--head softmax --no-anchor --refine none`` is
    the original one, ``--config nova`` NOVA's."""
    from vad.scoring.heads import ANCHORS, HEADS, MOTION_GATES, REFINES

    d = preset_defaults()

    def default(key: str) -> str:
        value = d.get(key)
        if isinstance(value, bool):  # a preset written with true/false
            from vad.scoring.heads import anchor_mode, motion_gate_mode

            value = anchor_mode(value) if key == "anchor" else motion_gate_mode(value)
        return f" (default: {value})" if value not in ("", None) else ""

    g = p.add_argument_group("scoring (docs/quality.md)")
    g.add_argument("--head", choices=HEADS, help="scoring head" + default("head"))
    g.add_argument(
        "--anchor",
        nargs="?",
        const="nova",
        choices=ANCHORS,
        metavar="{" + ",".join(ANCHORS) + "}",
        help="normal anchor joining the normal side: nova (NOVA's, from the first 32 samples; "
        "the flag alone), mean (the video's trimmed mean) or none" + default("anchor"),
    )
    g.add_argument(
        "--no-anchor", dest="anchor", action="store_const", const="none", help="--anchor none"
    )
    g.add_argument("--refine", choices=REFINES, help="in-video kNN refinement" + default("refine"))
    g.add_argument(
        "--motion-gate",
        nargs="?",
        const="nova",
        choices=MOTION_GATES,
        metavar="{" + ",".join(MOTION_GATES) + "}",
        help="NOVA's motion gate: scores times sigmoid(20 (m - 0.02)), m restated for the "
        "sampling rate (nova; the flag alone) or as is (unscaled)" + default("motion_gate"),
    )
    g.add_argument(
        "--no-motion-gate",
        dest="motion_gate",
        action="store_const",
        const="off",
        help="--motion-gate off",
    )


def add_review_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("results to look at")
    g.add_argument("--plot", action="store_true", help="<stem>.png: score timeline with events")
    g.add_argument(
        "--overlay", action="store_true", help="<stem>.overlay.mp4: score bar drawn on the video"
    )
    g.add_argument("--html", action="store_true", help="OUT/index.html: review page for the run")


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """``--engine`` and the Ray engine's options (``vad score``, ``vad eval``)."""
    g = p.add_argument_group("engine (docs/ray.md)")
    g.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: this process (default); ray: a Ray cluster (pip install 'vad[ray]')",
    )
    g.add_argument("--ray-address", metavar="ADDR", help="Ray cluster: auto, HOST:PORT, ray://...")
    g.add_argument("--workers", type=int, metavar="N", help="Ray: model actors (default: auto)")
    g.add_argument(
        "--num-gpus-per-worker",
        type=float,
        metavar="G",
        help="Ray: GPUs per model actor (default: 1 if the cluster has GPUs, else 0)",
    )
    g.add_argument(
        "--segment-s",
        type=float,
        metavar="SECONDS",
        help="Ray: unit of work, at most this much of a video (default: 60)",
    )


def check_engine_options(args: argparse.Namespace) -> None:
    if args.engine != "ray":
        given = [
            flag
            for flag, key in (
                ("--ray-address", "ray_address"),
                ("--workers", "workers"),
                ("--num-gpus-per-worker", "num_gpus_per_worker"),
                ("--segment-s", "segment_s"),
            )
            if getattr(args, key, None) is not None
        ]
        if given:
            raise UsageError(f"{', '.join(given)}: only with --engine ray")


def add_calibration_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("calibration (vad calibrate)")
    g.add_argument("--calibration", metavar="JSON", help="a camera calibration from vad calibrate")
    g.add_argument(
        "--false-alarms-per-hour",
        type=float,
        default=1.0,
        metavar="N",
        help="with --calibration: target rate of events on normal footage (default: 1)",
    )

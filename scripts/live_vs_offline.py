"""What a live score (``vad watch``) loses against the offline one (``vad score``): the future.

    python scripts/live_vs_offline.py VIDEO [--model M --pretrained P --window 60 --json]
    python scripts/live_vs_offline.py test-stream     # the stream of tests/test_livescore.py

The video is encoded once at 2 fps. Offline, :meth:`Detector.score_embeddings` scores every
sample with the whole video: scene context and anchor from all of it, refinement neighbours
from all of it, a smoothing window centred on the sample. Live, the
:class:`~vad.live.livescore.IncrementalScorer` of ``vad watch`` scores each sample as it arrives
from the last ``--window`` seconds (context, anchor, neighbours) and smooths with the past
only (the edge repeats the newest value). Per recipe variant, the script prints the per-sample
score difference live - offline (max, mean and 95th percentile of its absolute value, and its
mean: a sign of lag) and the events each finds at the detector's threshold (vad score's
rules, on the samples), so the difference is split by cause:

- ``recipe``: the detector's recipe as configured (all causes);
- ``no smoothing``: both unsmoothed: context, anchor and neighbours from the past only;
- ``smoothing only``: a fixed context, no anchor, no refinement, smoothed: the one-sided
  smoothing edge only;
- ``per sample``: fixed context, no anchor, no refinement, no smoothing: nothing depends on
  other samples; live equals offline (a check, 0 up to rounding).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vad.live.livescore import IncrementalScorer  # noqa: E402
from vad.pipeline import Detector  # noqa: E402
from vad.scoring.temporal import find_events  # noqa: E402

FPS = 2.0


def variants(context: str) -> dict[str, dict]:
    fixed = context if context not in ("auto", "none") else "a street"
    isolated = {"context": fixed, "anchor": False, "refine": "none"}
    return {
        "recipe": {},
        "no smoothing": {"smoothing": "none"},
        "smoothing only": isolated,
        "per sample": {**isolated, "smoothing": "none"},
    }


def compare(detector: Detector, emb, window_s: float) -> dict:
    # the per-frame scores at the sampled frames are the smoothed sample scores
    smoothed = np.asarray(detector.score_embeddings(emb)["scores"])[emb.indices]
    live = IncrementalScorer(detector, FPS, window_s)
    online = np.array([live.add(e[None])[0].score for e in emb.embeddings])
    diff = online - smoothed
    out = {
        "max_abs": round(float(np.abs(diff).max()), 4),
        "mean_abs": round(float(np.abs(diff).mean()), 4),
        "p95_abs": round(float(np.percentile(np.abs(diff), 95)), 4),
        "mean": round(float(diff.mean()), 4),
        "offline_range": [round(float(smoothed.min()), 4), round(float(smoothed.max()), 4)],
    }
    threshold = detector.event_threshold
    events = {}
    for name, scores in (("offline", smoothed), ("live", online)):
        spans = find_events(scores, FPS, threshold)
        events[name] = [(round(a / FPS, 1), round((b + 1) / FPS, 1)) for a, b in spans]
    out["events"] = events
    return out


def test_stream(common: dict):
    """The stand-in encoder, bank and stream of tests/test_livescore.py (scores across [0, 1],
    two fights), as a video sampled at 2 fps."""
    import tempfile

    import yaml

    tests = Path(__file__).resolve().parent.parent / "tests"
    sys.path.insert(0, str(tests))
    from conftest import StandInEncoder
    from test_livescore import BANK, stream

    from vad.cache import VideoEmbeddings

    encoder = StandInEncoder()
    bank = Path(tempfile.mkdtemp(prefix="vad-live-")) / "bank.yaml"
    bank.write_text(yaml.safe_dump(BANK, sort_keys=False))
    common = {**common, "prompts": bank, "use_cache": False}
    base = Detector(encoder=encoder, **common)
    x = stream(encoder)
    n = len(x)
    emb = VideoEmbeddings(x, np.arange(n), np.arange(n) / FPS, n, FPS, n)
    return base, emb, common


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video")
    p.add_argument("--model", default="ViT-B-16")
    p.add_argument("--pretrained", default="openai")
    p.add_argument("--context", default="auto")
    p.add_argument("--window", type=float, default=60.0, help="vad watch's --context-window")
    p.add_argument("--threshold", type=float, default=0.5, help="event threshold")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    common = {"sample_fps": FPS, "event_threshold": args.threshold, "isolate_decoding": False}
    if args.video == "test-stream":
        base, emb, common = test_stream(common)
        args.model = "stand-in"
    else:
        base = Detector(
            model=args.model, pretrained=args.pretrained, context=args.context, **common
        )
        emb = base.embed(args.video)
        common.update(model=args.model, pretrained=args.pretrained)
    report = {
        "video": args.video,
        "model": args.model,
        "samples": len(emb.indices),
        "window_s": args.window,
        "variants": {},
    }
    for name, settings in variants(args.context).items():
        kw = {**common, "context": args.context, "encoder": base.encoder, **settings}
        report["variants"][name] = compare(Detector(**kw), emb, args.window)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    where = f"{args.video}: {report['samples']} samples at {FPS:g} fps"
    print(f"{where}, {args.model}, live window {args.window:g} s")
    print("variant          max|d|  mean|d|  p95|d|  mean d  events offline -> live")
    for name, r in report["variants"].items():
        ev = r["events"]
        print(
            f"{name:<15}  {r['max_abs']:.4f}  {r['mean_abs']:.4f}  {r['p95_abs']:.4f}  "
            f"{r['mean']:+.4f}  {ev['offline']} -> {ev['live']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

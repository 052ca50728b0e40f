"""Re-scoring speed of every scoring recipe on cached embeddings, and a 100k-entry memory.

1. A one-hour video sampled at 2 fps (7200 embeddings) against a bank the size of the shipped
   ucf-crime bank, with scene context: seconds per re-score for each head, with and without
   the anchor and kNN refinement (what ``vad eval --ablate`` repeats per config): "cold" computes
   everything, as the first scoring of a video does; "warm" reuses what depends only on the
   embeddings (the anchor and the refinement's kNN graph, kept with them), as every later
   re-scoring of the same video does.
2. The knn-vote head over a flat memory of 100k descriptions (top-K in chunks): seconds and
   the peak memory of the process.

Random unit embeddings stand in for real ones (the cost does not depend on their values).

    python scripts/bench_heads.py --out bench-heads.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vad.model.prompts import PromptBank  # noqa: E402
from vad.scoring.heads import Scoring, knn_vote  # noqa: E402
from vad.scoring.score import score_samples, to_probabilities  # noqa: E402
from vad.scoring.text import TextEmbeddings  # noqa: E402


def unit(rng, n, dim):
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def bank_like(bank: PromptBank, dim: int, rng) -> TextEmbeddings:
    descs = bank.descriptions()
    names = bank.scene_names
    return TextEmbeddings(
        scenes=unit(rng, len(bank.scenes), dim),
        descriptions=unit(rng, len(descs), dim),
        anomalous=np.array([d.anomalous for d in descs]),
        scene_index=np.array([-1 if d.scene is None else names.index(d.scene) for d in descs]),
        labels=[d.label for d in descs],
        classes=np.array([-1 if d.cls is None else bank.classes.index(d.cls) for d in descs]),
        class_names=tuple(bank.classes),
    )


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=512, help="embedding size (ViT-B-16: 512)")
    p.add_argument("--seconds", type=float, default=3600.0, help="video length")
    p.add_argument("--fps", type=float, default=2.0, help="sampling rate")
    p.add_argument("--bank", default="ucf-crime", help="bank whose size and scenes to mimic")
    p.add_argument("--memory", type=int, default=100_000, help="knn-vote memory entries")
    p.add_argument("--memory-samples", type=int, default=600, help="samples against it")
    p.add_argument("--repeat", type=int, default=3, help="best of N")
    p.add_argument("--out", help="also write the numbers to this JSON file")
    args = p.parse_args(argv)
    load_start = round(os.getloadavg()[0], 2)  # the machine may be shared: record its load
    rng = np.random.default_rng(0)
    n = int(args.seconds * args.fps)
    frames = unit(rng, n, args.dim)
    times = np.arange(n) / args.fps
    text = bank_like(PromptBank.from_yaml(args.bank), args.dim, rng)
    from vad.scoring.context import robust_mean, scene_posterior

    contexts = {
        "none": None,
        # what --context auto computes: a softmax over scenes at the logit scale
        "auto": scene_posterior(robust_mean(frames), text.scenes, 100.0),
        # worst case: every scene holds weight, so every scene is scored
        "uniform": np.full(len(text.scenes), 1.0 / len(text.scenes)),
    }
    recipes = {
        "softmax (original)": Scoring.legacy(),
        "margin+anchor+knn (old default)": Scoring(anchor="mean", refine="knn"),
        "knn-vote+anchor+knn": Scoring(head="knn-vote", anchor="mean", refine="knn"),
        "softmax+anchor+knn": Scoring(head="softmax", anchor="mean", refine="knn"),
        "margin+nova anchor (default)": Scoring(),
        "NOVA (margin+nova anchor+gate)": Scoring.nova(),
    }
    rescore: dict[str, dict[str, float]] = {}
    warm: dict[str, dict[str, float]] = {}
    for name, scoring in recipes.items():
        for context, posterior in contexts.items():

            def run(scoring=scoring, posterior=posterior, memo=None):
                values = score_samples(frames, times, text, posterior, scoring, 100.0, memo=memo)
                return to_probabilities(values, times, scoring, 2.0, "gaussian", frames)

            seconds = round(best_of(run, args.repeat), 3)
            rescore.setdefault(name, {})[context] = seconds
            memo: dict = {}
            run(memo=memo)  # the first scoring of the video fills the memo
            warm_s = round(best_of(lambda memo=memo, run=run: run(memo=memo), args.repeat), 3)
            warm.setdefault(name, {})[context] = warm_s
            print(
                f"{name:<30} context {context:<8} cold {seconds:.3f} s, warm {warm_s:.3f} s "
                f"for {n} samples",
                flush=True,
            )
    rss_before = peak_rss_mb()
    memory = unit(rng, args.memory, args.dim)
    labels = rng.random(args.memory) < 0.5
    few = frames[: args.memory_samples]
    t0 = time.perf_counter()
    knn_vote(few, memory, labels, k=10)
    memory_s = time.perf_counter() - t0
    result = {
        "machine": f"{platform.node()} {platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": len(os.sched_getaffinity(0)),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "samples": n,
        "dim": args.dim,
        "bank": args.bank,
        "descriptions": len(text.labels),
        "scenes": len(text.scenes),
        "load_average_1m_at_start": load_start,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "rescore_seconds": rescore,
        "rescore_seconds_warm": warm,
        "auto_scenes_scored": int((contexts["auto"] >= 1e-3).sum()),
        "memory_entries": args.memory,
        "memory_samples": args.memory_samples,
        "memory_seconds": round(memory_s, 3),
        "memory_seconds_per_hour_at_fps": round(memory_s * n / args.memory_samples, 1),
        "peak_rss_mb_before_memory": round(rss_before, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    print(
        f"knn-vote over {args.memory} entries: {memory_s:.3f} s for {args.memory_samples} "
        f"samples; peak RSS {result['peak_rss_mb']:.0f} MB"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

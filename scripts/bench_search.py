"""``vad search`` over hours of cached footage: how long a query takes, and what it would cost
without the cache's remembered content hashes.

1. A synthetic cache: ``--videos`` stand-in video files, each with ``--hours-each`` hours of 2-fps
   frame embeddings (``--dim`` floats, random unit vectors: the cost does not depend on their
   values) stored under the key the real model's ``vad score`` would use.
2. ``Detector.search`` with the model loaded (the Python API's case), and its parts: the
   query's encoding (three templates through the text tower), the lookup and loading of every
   entry, the product and the moments.
3. The same search as ``vad search`` on the command line, start-up and model load included.
4. What looking the videos up would cost if every one were hashed again: BLAKE2b throughput
   on ``--hash-mb`` of file, times the bytes of an hour of footage at ``--bitrate-mbps``.

    python scripts/bench_search.py --videos 6 --hours-each 1 --out bench-search.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vad.cache import EmbeddingCache, VideoEmbeddings, content_hash, embedding_identity  # noqa: E402
from vad.pipeline import Detector  # noqa: E402
from vad.scoring.search import find_moments, query_embedding  # noqa: E402

QUERY = "a person climbing a fence"


def build_cache(root: Path, det: Detector, videos: int, hours: float, fps: float, dim: int):
    """Stand-in files (a few KB each: only their content hash matters) and their entries."""
    rng = np.random.default_rng(0)
    identity = embedding_identity(det.encoder.identity(), det.backend)
    cache = EmbeddingCache(det.cache_dir)
    paths = []
    n = int(hours * 3600 * fps)
    for v in range(videos):
        path = root / f"camera{v:02d}.mp4"
        path.write_bytes(rng.bytes(4096))
        emb = rng.standard_normal((n, dim)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        times = np.arange(n) / fps
        key = cache.key(path, identity, det.sample_fps)
        cache.put(key, VideoEmbeddings(emb, np.arange(n) * 12, times, n * 12, fps * 12))
        paths.append(path)
    return paths


def hash_throughput(folder: Path, megabytes: int) -> float:
    """Bytes per second BLAKE2b reads and hashes (the file is freshly written: page cache)."""
    path = folder / "hash-probe.bin"
    chunk = np.random.default_rng(1).bytes(1 << 20)
    with open(path, "wb") as f:
        for _ in range(megabytes):
            f.write(chunk)
    t0 = time.perf_counter()
    content_hash(path, fresh=True)
    seconds = time.perf_counter() - t0
    path.unlink()
    return megabytes * (1 << 20) / seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--hours-each", type=float, default=1.0)
    ap.add_argument("--sample-fps", type=float, default=2.0)
    ap.add_argument("--model", default="ViT-B-16")
    ap.add_argument("--pretrained", default="none", help="none: random weights, same compute")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--hash-mb", type=int, default=512)
    ap.add_argument("--bitrate-mbps", type=float, default=4.0, help="a 1080p camera stream")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="vad-bench-search-") as tmp:
        root = Path(tmp)
        settings = dict(model=args.model, pretrained=args.pretrained, sample_fps=args.sample_fps)
        det = Detector(**settings, cache_dir=root / "cache", isolate_decoding=False)
        t0 = time.perf_counter()
        det.encoder  # noqa: B018 - load the model
        load_s = time.perf_counter() - t0
        paths = build_cache(root, det, args.videos, args.hours_each, args.sample_fps,
                            det.encoder.encode_text(["x"]).shape[1])  # fmt: skip
        hours = args.videos * args.hours_each
        # (wall, CPU) seconds of each part; CPU time is what other processes cannot inflate
        query_s, lookup_s, rank_s, search_s = [], [], [], []

        def timed(out: list, fn):
            t0, c0 = time.perf_counter(), time.process_time()
            value = fn()
            out.append((time.perf_counter() - t0, time.process_time() - c0))
            return value

        for _ in range(args.repeats):
            vector, _ = timed(query_s, lambda: query_embedding(det.encoder, QUERY))
            cached = timed(lookup_s, lambda: [(str(p), det.cached_embeddings(p)) for p in paths])
            timed(rank_s, lambda v=vector, c=cached: find_moments(v, c, top=10))
            found = timed(search_s, lambda: det.search(QUERY, paths, top=10))
        assert found["encoded"] == 0 and found["videos"] == args.videos, found
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        cli = [sys.executable, "-m", "vad", "search", QUERY, *map(str, paths), "--model",
               args.model, "--pretrained", args.pretrained, "--sample-fps", str(args.sample_fps),
               "--cache-dir", str(root / "cache"), "--json"]  # fmt: skip
        cli_s = []
        for _ in range(max(1, args.repeats // 2)):
            t0 = time.perf_counter()
            proc = subprocess.run(cli, capture_output=True, text=True, env=env, check=False)
            cli_s.append(time.perf_counter() - t0)
            assert proc.returncode == 0, proc.stderr
            assert json.loads(proc.stdout)["encoded"] == 0
        rate = hash_throughput(root, args.hash_mb)
    hour_bytes = args.bitrate_mbps * 1e6 / 8 * 3600
    report = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "model": f"{args.model} ({args.pretrained})",
        "videos": args.videos,
        "hours": hours,
        "samples": int(hours * 3600 * args.sample_fps),
        "model_load_s": round(load_s, 2),
        **{
            f"{name}_{kind}_s_median": round(float(np.median([x[i] for x in values])), 3)
            for name, values in (
                ("query_encode", query_s),
                ("lookup_and_load", lookup_s),
                ("rank", rank_s),
                ("search", search_s),
            )
            for i, kind in enumerate(("wall", "cpu"))
        },
        "search_wall_s_all": [round(x[0], 3) for x in search_s],
        "cli_wall_s_median": round(float(np.median(cli_s)), 2),
        "hash_mb_per_s": round(rate / 2**20, 1),
        "hash_s_per_hour_of_footage": round(hour_bytes / rate, 2),
        "hash_s_for_all": round(hours * hour_bytes / rate, 1),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

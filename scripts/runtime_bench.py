"""``scripts/bench.py VIDEO --runtimes``: OpenVINO against torch on this machine, paired in one
run (issue 17). Prints and returns:

agreement
    image embeddings of VIDEO's frames and text embeddings of the prompt bank, OpenVINO against
    torch fp32 (min and mean cosine);
encoder-only
    both runtimes on the same pre-decoded, pre-resized frames, alternating, ``--repeats`` pairs
    (frames/s, the median of the paired ratios);
prompt bank
    encoding the bank's texts once with each runtime (seconds);
end-to-end
    ``vad score VIDEO`` processes, alternating between this checkout (runtime auto) and the
    baseline (``--baseline CHECKOUT``, or this checkout with ``--runtime torch``), frame-embedding
    cache emptied before each, text cache warm: wall time, peak RSS of both processes, the
    paired speed-up, and end-to-end / encoder-only for OpenVINO;
start-up
    a 10-s clip cut from VIDEO scored with a warm export and bank, a missing file, ``vad
    --help``: wall time, medians of 3, both checkouts.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench import REPO, _PeakPoller, log  # noqa: F401 - the bench's own helpers


def _frames(video: Path, preprocess, n: int, sample_fps: float) -> list[np.ndarray]:
    from vad.media.sampler import FrameSampler

    batches, total = [], 0
    for batch in FrameSampler(sample_fps, 32, "auto").open(video):
        batches.append(preprocess.resize_crop(batch.frames))
        total += len(batch.frames)
        if total >= n:
            break
    return batches


def _encode_all(encoder, batches) -> tuple[float, float]:
    """Wall and CPU seconds (this process, every thread) to encode ``batches``. On a loaded
    machine the CPU time is the number to read: it is what the work costs, whatever else runs."""
    c0, t0 = time.process_time(), time.perf_counter()
    for pixels in batches:
        encoder.collect(encoder.submit_pixels(pixels))
    return time.perf_counter() - t0, time.process_time() - c0


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _run(cmd: list[str], env: dict, cwd: str) -> dict:
    """One process, timed: wall, CPU (it and its children: load-independent) and peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    poller = _PeakPoller(proc.pid)
    poller.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    poller.stop.set()
    poller.join()
    worker = max(poller.children_kb.values(), default=0)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "rc": proc.returncode,
        "stderr": err.decode(errors="replace")[-500:],
        "sum_peak_rss_mb": (poller.main_kb + worker) / 1024,
        "main_peak_rss_mb": poller.main_kb / 1024,
    }


def _env(checkout: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(checkout)
    return env


def _score(checkout: Path, video: Path, cache: Path, extra: list[str], args) -> dict:
    shutil.rmtree(cache / "embeddings", ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="vad-rt-bench-") as tmp:
        cmd = [sys.executable, "-m", "vad", "score", str(video), "--out", f"{tmp}/out",
               "--model", args.model, "--pretrained", args.pretrained,
               "--sample-fps", f"{args.sample_fps:g}", "--batch-size", str(args.batch_size),
               "--prompts", args.prompts, "--cache-dir", str(cache), *extra]  # fmt: skip
        r = _run(cmd, _env(checkout), tmp)
        results = list(Path(tmp, "out").glob("*.json"))
        if results:
            r["samples"] = json.loads(results[0].read_text())["num_samples"]
    if r["rc"] != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed ({r['rc']}):\n{r['stderr']}")
    return r


def _clip(video: Path, seconds: float, out: Path) -> Path:
    import cv2

    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    ok, frame = cap.read()
    h, w = frame.shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for _ in range(int(seconds * fps)):
        if not ok:
            break
        writer.write(frame)
        ok, frame = cap.read()
    writer.release()
    return out


def compare_runtimes(args, report: dict) -> None:
    from vad.model.encoder import ClipEncoder
    from vad.model.openvino import cpu_capabilities
    from vad.model.prompts import PromptBank
    from vad.model.runtime import build_encoder
    from vad.scoring.text import bank_texts

    video = Path(args.video)
    caps = cpu_capabilities()
    report["machine"]["openvino_capabilities"] = caps
    report["machine"]["load_avg_before"] = os.getloadavg()
    log(f"OpenVINO CPU capabilities: {', '.join(caps)}; load {os.getloadavg()[0]:.2f}")
    t0 = time.perf_counter()
    ov = build_encoder(args.model, args.pretrained, "cpu", args.precision, "openvino",
                       args.cache_dir)  # fmt: skip
    made = time.perf_counter() - t0
    torch_encoder = ClipEncoder(args.model, args.pretrained, "cpu", "fp32")
    report["settings"] = {
        "model": args.model, "pretrained": args.pretrained, "video": str(video),
        "sample_fps": args.sample_fps, "batch_size": args.batch_size,
        "openvino_precision": ov.precision, "export_or_load_s": round(made, 2),
        "torch_threads": __import__("torch").get_num_threads(),
    }  # fmt: skip
    log(f"{args.model}: OpenVINO {ov.precision} ready in {made:.1f} s (export if it was cold)")
    batches = _frames(video, ov.preprocess, args.max_encoder_frames, args.sample_fps)
    n = sum(len(b) for b in batches)
    # agreement on the video's own frames
    a = np.concatenate([ov.encode_images(ov.preprocess.normalize(b)) for b in batches[:2]])
    b = np.concatenate([torch_encoder.encode_images(ov.preprocess.normalize(b))
                        for b in batches[:2]])  # fmt: skip
    image_cos = _cos(a, b)
    bank = PromptBank.from_yaml(args.prompts)
    texts = bank_texts(bank)
    sample = texts[:: max(1, len(texts) // 64)]
    text_cos = _cos(ov.encode_text(sample), torch_encoder.encode_text(sample))
    report["agreement"] = {
        "frames": len(a), "image_min_cos": float(image_cos.min()),
        "image_mean_cos": float(image_cos.mean()), "texts": len(sample),
        "text_min_cos": float(text_cos.min()), "text_mean_cos": float(text_cos.mean()),
        "export_check": ov.manifest.get("agreement"),
    }  # fmt: skip
    log(f"agreement with torch fp32: images min {image_cos.min():.6f}, texts min "
        f"{text_cos.min():.6f}")  # fmt: skip
    # encoder-only, paired
    _encode_all(ov, batches[:1])  # warm-up: first-call allocations
    _encode_all(torch_encoder, batches[:1])
    pairs = []
    for r in range(args.repeats):
        t_torch, c_torch = _encode_all(torch_encoder, batches)
        t_ov, c_ov = _encode_all(ov, batches)
        pairs.append({"torch_s": t_torch, "openvino_s": t_ov, "ratio": t_torch / t_ov,
                      "torch_cpu_s": c_torch, "openvino_cpu_s": c_ov,
                      "cpu_ratio": c_torch / c_ov})  # fmt: skip
        log(
            f"  encoder-only pair {r + 1}: torch {n / t_torch:.2f} frames/s, OpenVINO "
            f"{n / t_ov:.2f} frames/s, {t_torch / t_ov:.2f}x; CPU s torch {c_torch:.1f}, "
            f"OpenVINO {c_ov:.1f}: {c_torch / c_ov:.2f}x (load {os.getloadavg()[0]:.1f})"
        )
    report["encoder"] = {
        "frames": n, "pairs": pairs,
        "torch_fps": n / statistics.median(p["torch_s"] for p in pairs),
        "openvino_fps": n / statistics.median(p["openvino_s"] for p in pairs),
        "ratio_median": statistics.median(p["ratio"] for p in pairs),
        "torch_fps_per_cpu_s": n / statistics.median(p["torch_cpu_s"] for p in pairs),
        "openvino_fps_per_cpu_s": n / statistics.median(p["openvino_cpu_s"] for p in pairs),
        "cpu_ratio_median": statistics.median(p["cpu_ratio"] for p in pairs),
    }  # fmt: skip
    if args.encoder_only:
        return
    # the prompt bank, once each
    t0 = time.perf_counter()
    ov.encode_text(texts)
    t_ov = time.perf_counter() - t0
    t0 = time.perf_counter()
    torch_encoder.encode_text(texts)
    t_torch = time.perf_counter() - t0
    report["bank"] = {"texts": len(texts), "torch_s": t_torch, "openvino_s": t_ov}
    log(f"prompt bank ({len(texts)} texts): torch {t_torch:.1f} s, OpenVINO {t_ov:.1f} s")
    del torch_encoder
    # end to end, paired against the baseline
    baseline = args.baseline or REPO
    base_extra = [] if args.baseline else ["--runtime", "torch"]
    ours_cache, base_cache = args.cache_dir / "ours", args.cache_dir / "baseline"
    log("end-to-end: warming both text caches (one untimed run each)")
    _score(REPO, video, ours_cache, [], args)
    _score(baseline, video, base_cache, base_extra, args)
    runs = []
    for r in range(args.repeats):
        base = _score(baseline, video, base_cache, base_extra, args)
        ours = _score(REPO, video, ours_cache, [], args)
        runs.append({"baseline": base, "ours": ours, "speedup": base["wall_s"] / ours["wall_s"],
                     "load": os.getloadavg()[0]})  # fmt: skip
        log(
            f"  end-to-end pair {r + 1}: baseline {base['wall_s']:.1f} s "
            f"({base['sum_peak_rss_mb']:.0f} MB), OpenVINO {ours['wall_s']:.1f} s "
            f"({ours['sum_peak_rss_mb']:.0f} MB): {base['wall_s'] / ours['wall_s']:.2f}x"
        )
    ours_s = statistics.median(r["ours"]["wall_s"] for r in runs)
    enc_s = runs[0]["ours"]["samples"] / report["encoder"]["openvino_fps"]
    report["e2e"] = {
        "runs": runs, "baseline": str(baseline), "baseline_args": base_extra,
        "speedup_median": statistics.median(r["speedup"] for r in runs),
        "cpu_speedup_median": statistics.median(
            r["baseline"]["cpu_s"] / r["ours"]["cpu_s"] for r in runs
        ),
        "ours_s": ours_s, "baseline_s": statistics.median(r["baseline"]["wall_s"] for r in runs),
        "ours_over_encoder_only": ours_s / enc_s,
        "ours_peak_rss_mb": max(r["ours"]["sum_peak_rss_mb"] for r in runs),
        "baseline_peak_rss_mb": max(r["baseline"]["sum_peak_rss_mb"] for r in runs),
    }  # fmt: skip
    # start-up: a 10-s clip (warm export and bank), a missing file, --help
    with tempfile.TemporaryDirectory(prefix="vad-rt-clip-") as tmp:
        clip = _clip(video, 10.0, Path(tmp) / "clip10s.avi")
        startup: dict = {}
        for label, checkout, cache, extra in (
            ("ours", REPO, ours_cache, []),
            ("baseline", baseline, base_cache, base_extra),
        ):
            _score(checkout, clip, cache, extra, args)  # warm for this clip's size
            walls = [_score(checkout, clip, cache, extra, args)["wall_s"] for _ in range(3)]
            missing = [
                _run([sys.executable, "-m", "vad", "score", "missing.mp4"], _env(checkout), tmp)[
                    "wall_s"
                ]
                for _ in range(3)
            ]
            helps = [_run([sys.executable, "-m", "vad", "--help"], _env(checkout),
                          tmp)["wall_s"] for _ in range(3)]  # fmt: skip
            startup[label] = {"clip10s_s": statistics.median(walls),
                              "missing_file_s": statistics.median(missing),
                              "help_s": statistics.median(helps)}  # fmt: skip
            log(f"  start-up {label}: {startup[label]}")
        report["startup"] = startup
    report["machine"]["load_avg_after"] = os.getloadavg()


def print_runtimes(report: dict) -> str:
    m, s = report["machine"], report["settings"]
    lines = [
        f"vad bench --runtimes  {m['date']}  commit {m['commit']}",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; OpenVINO capabilities "
        f"{', '.join(m['openvino_capabilities'])}; load {m['load_avg_before'][0]:.2f} -> "
        f"{m.get('load_avg_after', m['load_avg_before'])[0]:.2f}",
        f"model {s['model']} ({s['pretrained']}), OpenVINO {s['openvino_precision']} vs torch "
        f"fp32 ({s['torch_threads']} threads); export/load {s['export_or_load_s']} s",
    ]
    a = report["agreement"]
    lines.append(
        f"agreement: images min cos {a['image_min_cos']:.6f} (mean {a['image_mean_cos']:.6f}, "
        f"{a['frames']} frames), texts min {a['text_min_cos']:.6f} ({a['texts']} texts)"
    )
    e = report["encoder"]
    lines.append(
        f"encoder-only ({e['frames']} frames): torch {e['torch_fps']:.2f} frames/s, OpenVINO "
        f"{e['openvino_fps']:.2f} frames/s, OpenVINO/torch {e['ratio_median']:.2f}x (pairs "
        + ", ".join(f"{p['ratio']:.2f}" for p in e["pairs"])
        + ")"
    )
    if "bank" in report:
        b = report["bank"]
        lines.append(f"prompt bank ({b['texts']} texts): torch {b['torch_s']:.1f} s, "
                     f"OpenVINO {b['openvino_s']:.1f} s")  # fmt: skip
    if "e2e" in report:
        x = report["e2e"]
        lines.append(
            f"end-to-end `vad score`: baseline {x['baseline_s']:.1f} s, OpenVINO {x['ours_s']:.1f} "
            f"s: {x['speedup_median']:.2f}x (pairs "
            + ", ".join(f"{r['speedup']:.2f}" for r in x["runs"])
            + "); "
            f"end-to-end / encoder-only {x['ours_over_encoder_only']:.2f}; peak RSS (both "
            f"processes) OpenVINO {x['ours_peak_rss_mb']:.0f} MB, baseline "
            f"{x['baseline_peak_rss_mb']:.0f} MB"
        )
    if "startup" in report:
        for label, st in report["startup"].items():
            lines.append(
                f"start-up {label} (wall / CPU s): 10-s clip {st['clip10s_wall']:.2f} / "
                f"{st['clip10s_cpu']:.2f}, missing file {st['missing_file_wall']:.2f} / "
                f"{st['missing_file_cpu']:.2f}, --help {st['help_wall']:.2f} / {st['help_cpu']:.2f}"
            )
    return "\n".join(lines)

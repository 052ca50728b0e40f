"""Throughput and memory benchmark: is the image encoder the only cost?

    python scripts/bench.py VIDEO [--model M --pretrained P --sample-fps F --batch-size B ...]
    python scripts/bench.py SHORT.avi --memory LONG.avi      # peak RSS, short vs long video

In one run it measures, on the same frames, in the same batches:

decode-only
    the decode worker process of ``vad score`` (decode, sample, resize and crop to the model's
    input size in uint8), streamed through its bounded queue and thrown away; the worker is
    warmed up first (one untimed pass), so this is steady-state decoding.
encoder-only
    the encoder on those pre-decoded, pre-resized uint8 frames, in this process, with the
    thread settings ``vad score`` uses (uint8 -> normalise -> encode, one warm-up batch first).
in-process
    ``Detector.score(VIDEO)`` in the bench process, model loaded and decode worker booted: the
    pipeline's steady state without process start-up. The GPU target is judged on it (on a
    GPU, start-up would dominate any short clip).
end-to-end
    ``python -m vad score VIDEO`` as a fresh subprocess, timed as a whole: interpreter and
    import start-up, model load, decode worker start-up, decoding, encoding, scoring, writing
    the outputs and exiting. The bench owns the cache folder: the prompt bank's text
    embeddings are cached there (warm; a cold first run, which encodes the bank, is reported
    apart), and the frame-embedding cache is emptied before every run so nothing is skipped.

and prints the ratio end-to-end time / encoder-only time. Encoder-only and end-to-end runs
alternate (``--repeats`` pairs) and each pair gives a ratio: on a shared machine the load
changes from minute to minute, so the median of the paired ratios is the number to trust.
Two cross-checks: best end-to-end / best encoder-only (load from other processes only ever
adds time), and the ratio in CPU time (``vad`` + worker process / encoder-only).

Peak RSS of a run is measured two ways: exactly, as the kernel's maximum over the ``vad``
process and its decode worker (``wait4`` rusage: the larger of the two), and per process by
polling ``/proc/PID/status`` VmHWM every 0.2 s (``main``, ``worker`` and their ``sum``, an
upper bound of what both held at once).

``--watch`` measures ``vad watch`` instead: how many live 2-fps streams one CPU core (or, with
the model on a GPU, one GPU and all cores) keeps up with. On the CPU the process is pinned to
one core (``sched_setaffinity``, torch and decoding threads included). N copies of VIDEO are
watched as live streams (``--realtime --loop``) for ``--watch-seconds`` each, N = 1, 2, ...;
N keeps up when ``vad watch`` says it kept up: no frame dropped, every frame that arrived scored
(but a batch in flight at the end), scoring busy less than 95 % of the time, each reader within
max(1 s, 2 samples) of its stream. It reports the largest such N and each trial's latency, and,
as a check that other processes' load cannot skew, the CPU time per sample of this process and
the streams a dedicated core would take at that cost.

Before the trials, ``--watch`` measures what scoring costs per sample, paired in one run: the
video's embeddings (2 fps, encoded once, replayed in a loop as one live stream) are fed one
sample at a time to the whole-window re-score (``WatchOptions.scorer = "window"``, ``vad watch``
before issue 17 item 9) and to the incremental scorer (the default), at each
``--watch-windows`` context window (60 and 300 s); CPU time per sample is measured once the
window is full (``--watch-score-samples`` samples, fewer for the re-score, whose window is
filled without scoring), on the same core, the two scorers alternating, twice; the medians are
reported with the encoder's CPU per sample (one frame a batch) for scale.

``--memory LONG`` runs end-to-end on VIDEO and on LONG (a longer video of the same format,
see scripts/make_long_video.py) and prints their peak RSS and its ratio instead.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # benchmark the checkout this script lives in

CPU_RATIO_TARGET = 1.3
GPU_FRACTION_TARGET = 0.8
RSS_RATIO_TARGET = 1.25
POLL_S = 0.2


# -- machine and settings ------------------------------------------------------------------------


def machine_info() -> dict:
    import cv2
    import open_clip
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem_gb = round(kb / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        commit += "+dirty" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "gpu": gpu,
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "open_clip": open_clip.__version__,
        "opencv": cv2.__version__,
        "commit": commit,
    }


def score_command(args, video: Path, out_dir: Path, cache_dir: Path) -> list[str]:
    cmd = [sys.executable, "-m", "vad", "score", str(video), "--out", str(out_dir)]
    cmd += ["--model", args.model, "--pretrained", args.pretrained]
    cmd += ["--sample-fps", f"{args.sample_fps:g}", "--batch-size", str(args.batch_size)]
    cmd += ["--device", args.device, "--precision", args.precision, "--prompts", args.prompts]
    cmd += ["--runtime", args.runtime, "--cache-dir", str(cache_dir)]
    return cmd


# -- end to end: `vad score` in a fresh process ---------------------------------------------------


def _status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


class _PeakPoller(threading.Thread):
    """Polls VmHWM (peak RSS) of a process and of its child processes until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.main_kb = 0
        self.children_kb: dict[int, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.main_kb = max(self.main_kb, _status_kb(self.pid, "VmHWM") or 0)
            for child in _children(self.pid):
                kb = _status_kb(child, "VmHWM") or 0
                self.children_kb[child] = max(self.children_kb.get(child, 0), kb)
            self.stop.wait(POLL_S)


def run_score(args, video: Path, cache_dir: Path) -> dict:
    """One timed ``vad score`` run with an empty frame-embedding cache."""
    shutil.rmtree(cache_dir / "embeddings", ignore_errors=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="vad-bench-") as tmp:
        out = Path(tmp) / "out"
        cmd = score_command(args, video, out, cache_dir)
        with open(Path(tmp) / "stderr", "w+b") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=err)
            poller = _PeakPoller(proc.pid)
            poller.start()
            # wait4, not wait: its rusage is this child's own, with the peak RSS of the vad
            # process and of its decode worker (the larger of the two)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            poller.stop.set()
            poller.join()
            if proc.returncode != 0:
                err.seek(0)
                raise SystemExit(
                    f"bench: `{' '.join(cmd)}` failed (exit {proc.returncode}):\n"
                    + err.read().decode(errors="replace")
                )
        results = list(out.glob("*.json"))
        samples = json.loads(results[0].read_text())["num_samples"] if results else None
    worker_kb = max(poller.children_kb.values(), default=0)
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "samples": samples,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "main_peak_rss_mb": poller.main_kb / 1024,
        "worker_peak_rss_mb": worker_kb / 1024,
        "sum_peak_rss_mb": (poller.main_kb + worker_kb) / 1024,
    }


def text_cache_warm(args, encoder, cache_dir: Path) -> bool:
    from vad.model.prompts import PromptBank
    from vad.scoring.text import text_cache_key

    bank = PromptBank.from_yaml(args.prompts)
    return (cache_dir / "text" / f"{text_cache_key(bank, encoder.identity())}.npz").is_file()


# -- decode-only and encoder-only, in this process ------------------------------------------------


def decode_only(args, worker, video: Path, keep: int):
    """Times the decode worker over ``video`` (after one untimed pass that also boots it);
    returns the timings and the first ``keep`` frames' uint8 batches for the encoder-only runs."""
    t0 = time.perf_counter()
    for _ in worker.stream(video)[1]:
        pass
    first = time.perf_counter() - t0
    times, kept, frames = [], [], 0
    for r in range(args.decode_repeats):
        t0 = time.perf_counter()
        frames = 0
        for batch in worker.stream(video)[1]:
            frames += len(batch.indices)
            if r == 0 and sum(len(b) for b in kept) < keep:
                kept.append(batch.pixels)
        times.append(time.perf_counter() - t0)
    wall = statistics.median(times)
    return {
        "frames": frames,
        "first_pass_s": first,
        "wall_s": wall,
        "fps": frames / wall,
        "runs_s": times,
    }, kept


def warm_score(detector, video: Path, cache_dir: Path) -> float:
    """Seconds for ``Detector.score`` in this process, model loaded and decode worker booted:
    the pipeline's steady state, without process start-up."""
    shutil.rmtree(cache_dir / "embeddings", ignore_errors=True)
    t0 = time.perf_counter()
    detector.score(video)
    return time.perf_counter() - t0


def encoder_only(encoder, batches) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all threads) to encode ``batches`` exactly as
    ``Detector._encode_video`` does."""
    submit, collect = _encode_calls(encoder)
    c0 = time.process_time()
    t0 = time.perf_counter()
    pending = None
    for pixels in batches:
        submitted = submit(pixels)
        if pending is not None:
            collect(pending)
        pending = submitted
    if pending is not None:
        collect(pending)
    return time.perf_counter() - t0, time.process_time() - c0


def _encode_calls(encoder):
    """``(submit, collect)``; encoders older than ``submit_pixels`` (to bench a baseline
    checkout) normalise on the host and encode synchronously."""
    if hasattr(encoder, "submit_pixels"):
        return encoder.submit_pixels, encoder.collect
    return (lambda px: encoder.encode_images(encoder.preprocess.normalize(px))), (lambda e: e)


# -- the runs -------------------------------------------------------------------------------------


def throughput(args, encoder, cache_dir: Path, report: dict) -> None:
    from vad.pipeline import Detector

    video = Path(args.video)
    detector = Detector(
        model=args.model,
        pretrained=args.pretrained,
        prompts=args.prompts,
        sample_fps=args.sample_fps,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        runtime=args.runtime,
        cache_dir=cache_dir,
        encoder=encoder,
    )
    with detector:
        _throughput(args, detector, video, cache_dir, report)


def _throughput(args, detector, video: Path, cache_dir: Path, report: dict) -> None:
    encoder = detector.encoder
    worker = detector.decoder
    worker.preprocess = encoder.preprocess
    log(f"decode-only: {video.name}, {args.decode_repeats} timed passes after a warm-up")
    decode, batches = decode_only(args, worker, video, args.max_encoder_frames)
    report["decode"] = decode
    n = decode["frames"]
    m = sum(len(b) for b in batches)
    report["frames"] = n
    log(f"  {n} frames, {decode['fps']:.1f} frames/s")

    submit, collect = _encode_calls(encoder)
    collect(submit(batches[0]))  # warm-up: first-call allocations
    if not text_cache_warm(args, encoder, cache_dir):
        log("end-to-end, cold (the prompt bank's text embeddings are not cached yet)")
        cold = run_score(args, video, cache_dir)
        report["e2e_cold"] = cold
        log(f"  {cold['wall_s']:.1f} s (includes encoding the prompt bank once)")
    enc_runs, warm_runs, e2e_runs, ratios, warm_ratios, cpu_ratios = [], [], [], [], [], []
    for r in range(args.repeats):
        t, cpu = (x * n / m for x in encoder_only(encoder, batches))
        enc_runs.append(t)
        warm = warm_score(detector, video, cache_dir)
        warm_runs.append(warm)
        warm_ratios.append(warm / t)
        e2e = run_score(args, video, cache_dir)
        if e2e["samples"] is not None and e2e["samples"] != n:
            raise SystemExit(f"bench: vad score encoded {e2e['samples']} frames, decode {n}")
        e2e_runs.append(e2e)
        ratios.append(e2e["wall_s"] / t)
        cpu_ratios.append(e2e["cpu_s"] / cpu)
        log(
            f"  pair {r + 1}/{args.repeats}: encoder-only {t:.1f} s ({n / t:.2f} frames/s), "
            f"in-process {warm:.1f} s ({warm / t:.3f}x), "
            f"end-to-end {e2e['wall_s']:.1f} s ({n / e2e['wall_s']:.2f} frames/s), "
            f"ratio {ratios[-1]:.3f} (CPU time {cpu_ratios[-1]:.3f}), "
            f"peak RSS {e2e['peak_rss_mb']:.0f} MB"
        )
    enc_s = statistics.median(enc_runs)
    warm_s = statistics.median(warm_runs)
    e2e_s = statistics.median(r["wall_s"] for r in e2e_runs)
    report["encoder"] = {
        "wall_s": enc_s,
        "fps": n / enc_s,
        "runs_s": enc_runs,
        "measured_frames": m,
        "extrapolated": m < n,
    }
    report["in_process"] = {
        "wall_s": warm_s,
        "fps": n / warm_s,
        "runs_s": warm_runs,
        "ratio": statistics.median(warm_ratios),
        "ratios": warm_ratios,
    }
    report["e2e"] = {
        "wall_s": e2e_s,
        "fps": n / e2e_s,
        "runs": e2e_runs,
        "text_cache": "warm",
        "peak_rss_mb": max(r["peak_rss_mb"] for r in e2e_runs),
    }
    report["ratio"] = {
        "median": statistics.median(ratios),
        "pairs": ratios,
        "best_of": min(r["wall_s"] for r in e2e_runs) / min(enc_runs),
        "cpu_time_median": statistics.median(cpu_ratios),
        "cpu_time_pairs": cpu_ratios,
    }
    limit = min(decode["fps"], n / enc_s)
    report["fraction_of_limit"] = {"in_process": (n / warm_s) / limit, "e2e": (n / e2e_s) / limit}
    if str(encoder.device).startswith("cuda"):
        report["target"] = {
            "what": f"in-process end-to-end >= {GPU_FRACTION_TARGET:.0%} of "
            "min(decode-only, encoder-only) throughput",
            "met": report["fraction_of_limit"]["in_process"] >= GPU_FRACTION_TARGET,
        }
    else:
        report["target"] = {
            "what": f"end-to-end / encoder-only <= {CPU_RATIO_TARGET}",
            "met": report["ratio"]["median"] <= CPU_RATIO_TARGET,
        }


def memory(args, encoder, cache_dir: Path, report: dict) -> None:
    runs = {}
    if not text_cache_warm(args, encoder, cache_dir):
        log("warming the text-embedding cache (one untimed run)")
        run_score(args, Path(args.video), cache_dir)
    for label, video in (("short", Path(args.video)), ("long", Path(args.memory))):
        log(f"end-to-end on {video.name} ({label})")
        runs[label] = run_score(args, video, cache_dir)
        r = runs[label]
        log(
            f"  {r['samples']} samples in {r['wall_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB "
            f"(main {r['main_peak_rss_mb']:.0f}, worker {r['worker_peak_rss_mb']:.0f})"
        )
    short, long = runs["short"], runs["long"]
    report["memory"] = {
        **runs,
        "ratio": long["peak_rss_mb"] / short["peak_rss_mb"],
        "ratio_sum": long["sum_peak_rss_mb"] / short["sum_peak_rss_mb"],
    }
    report["target"] = {
        "what": f"peak RSS long / short <= {RSS_RATIO_TARGET}",
        "met": max(report["memory"]["ratio"], report["memory"]["ratio_sum"]) <= RSS_RATIO_TARGET,
    }


def _peak_rss_note() -> str:
    return "peak RSS: max over vad + decode worker (exact); main/worker/sum polled"


def print_report(args, report: dict) -> None:
    m = report["machine"]
    print(f"vad bench  {m['date']}  commit {m['commit']}")
    gpu = f", GPU {m['gpu']}" if m["gpu"] else ""
    print(
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB{gpu}; "
        f"load {m['load_avg_1m']}; torch {m['torch']} ({m['torch_threads']} threads)"
    )
    s = report["settings"]
    print(
        f"settings: {s['model']} ({s['pretrained']}), {s['device']}/{s['precision']}, "
        f"sample {s['sample_fps']:g} fps, batch {s['batch_size']}"
    )
    if "memory" in report:
        mem = report["memory"]
        for label in ("short", "long"):
            r = mem[label]
            print(
                f"{label:>5}: {Path(r['video']).name}: {r['samples']} samples, "
                f"{r['wall_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB "
                f"(main {r['main_peak_rss_mb']:.0f} + worker {r['worker_peak_rss_mb']:.0f} "
                f"= {r['sum_peak_rss_mb']:.0f} MB)"
            )
        print(
            f"peak RSS long / short: {mem['ratio']:.3f} (sum of processes: {mem['ratio_sum']:.3f})"
        )
    else:
        n = report["frames"]
        d, e, x = report["decode"], report["encoder"], report["e2e"]
        print(f"frames: {n} ({Path(args.video).name})")
        print(f"decode-only   {d['fps']:8.1f} frames/s  ({d['wall_s']:.2f} s)")
        extra = f", extrapolated from {e['measured_frames']}" if e["extrapolated"] else ""
        print(f"encoder-only  {e['fps']:8.2f} frames/s  ({e['wall_s']:.2f} s{extra})")
        w = report["in_process"]
        print(
            f"in-process    {w['fps']:8.2f} frames/s  ({w['wall_s']:.2f} s, Detector.score with "
            "the model loaded and the worker booted)"
        )
        print(
            f"end-to-end    {x['fps']:8.2f} frames/s  ({x['wall_s']:.2f} s, `vad score` "
            "process incl. start-up, text cache warm)"
        )
        if "e2e_cold" in report:
            c = report["e2e_cold"]
            print(f"end-to-end, cold text cache: {c['wall_s']:.1f} s")
        r = report["ratio"]
        pairs = ", ".join(f"{v:.3f}" for v in r["pairs"])
        print(f"end-to-end / encoder-only: {r['median']:.3f} (median of pairs: {pairs})")
        print(f"  best end-to-end / best encoder-only: {r['best_of']:.3f}")
        print(
            f"  in CPU time (vad + worker / encoder-only): {r['cpu_time_median']:.3f}, a "
            "cross-check that load from other processes does not move much"
        )
        print(f"in-process / encoder-only: {w['ratio']:.3f}")
        f = report["fraction_of_limit"]
        print(
            f"throughput / min(decode-only, encoder-only): in-process {f['in_process']:.3f}, "
            f"end-to-end {f['e2e']:.3f}"
        )
        print(f"peak RSS (end-to-end): {x['peak_rss_mb']:.0f} MB ({_peak_rss_note()})")
    t = report["target"]
    print(f"target: {t['what']}: {'met' if t['met'] else 'NOT met'}")


def watch_scoring_bench(args, detector, encoder, report: dict) -> None:
    """CPU per sample of the window re-score and of the incremental scorer (module doc)."""
    import numpy as np

    from vad.live.livescore import IncrementalScorer, WindowScorer

    fps = detector.sample_fps
    stream = detector.embed(args.video).embeddings  # 2 fps, replayed in a loop

    def sample(i: int) -> np.ndarray:
        return stream[i % len(stream)][None]

    def cpu_per_sample(scorer, start: int, n: int) -> float:
        cpu0 = time.process_time()
        for i in range(start, start + n):
            scorer.add(sample(i))
        return (time.process_time() - cpu0) / n

    rows = []
    for window_s in args.watch_windows:
        full = int(window_s * fps) + 1
        measured: dict[str, list[float]] = {"window": [], "incremental": []}
        for _ in range(2):  # alternate, twice: the load of other processes shows as spread
            before = WindowScorer(detector, fps, window_s)
            for i in range(full):  # fill the window without scoring it (its cost: n^2)
                before.embeddings.append(sample(i)[0])
                before.warmup.add(sample(i)[0])  # and NOVA's warm-up, as the other one's
            n = max(5, args.watch_score_samples // 10)
            measured["window"].append(cpu_per_sample(before, full, n))
            after = IncrementalScorer(detector, fps, window_s, detector.batch_size)
            for i in range(full):
                after.add(sample(i))
            measured["incremental"].append(cpu_per_sample(after, full, args.watch_score_samples))
        before_s = statistics.median(measured["window"])
        after_s = statistics.median(measured["incremental"])
        rows.append(
            {
                "window_s": window_s,
                "window_samples": full,
                "rescore_cpu_ms_per_sample": round(1e3 * before_s, 3),
                "incremental_cpu_ms_per_sample": round(1e3 * after_s, 3),
                "speedup": round(before_s / after_s, 1),
                "runs_ms": {k: [round(1e3 * v, 3) for v in vs] for k, vs in measured.items()},
            }
        )
        log(f"watch scoring bench: {rows[-1]}")
    pixels = encoder.preprocess.resize_crop(np.zeros((1, 240, 320, 3), np.uint8))
    collect = getattr(encoder, "collect", np.asarray)
    collect(encoder.submit_pixels(pixels))  # warm-up
    cpu0, n = time.process_time(), 20
    for _ in range(n):
        collect(encoder.submit_pixels(pixels))
    report["watch_scoring"] = {
        "stream": f"{args.video} at {fps:g} fps ({len(stream)} samples, looped)",
        "encoder_cpu_ms_per_frame": round(1e3 * (time.process_time() - cpu0) / n, 3),
        "windows": rows,
    }


def watch_bench(args, encoder, report: dict) -> None:
    """How many realtime 2-fps streams one CPU core keeps up with (``vad watch``)."""
    import torch

    from vad.live.alerts import AlertSink
    from vad.live.watch import Watcher, WatchOptions
    from vad.pipeline import Detector

    on_gpu = str(encoder.device).startswith("cuda")
    core = None
    if not on_gpu:  # one CPU core; on a GPU the question is what one GPU takes (all cores)
        core = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {core})  # every thread of this process: one core
        torch.set_num_threads(1)
    fps = 2.0
    detector = Detector(
        model=args.model,
        pretrained=args.pretrained,
        sample_fps=fps,
        device=str(encoder.device),
        precision=args.precision,
        runtime=args.runtime,
        batch_size=args.batch_size,
        cache_dir=args.cache_dir,
        isolate_decoding=False,
        encoder=encoder,
    )
    detector.text_embeddings()  # the prompt bank, before any timing
    watch_scoring_bench(args, detector, encoder, report)
    links = Path(tempfile.mkdtemp(prefix="vad-watch-bench-"))
    trials = []
    best = 0
    try:
        for n in range(1, args.watch_max + 1):
            sources = []
            for i in range(n):  # distinct names for the same file
                link = links / f"stream{i}{Path(args.video).suffix}"
                if not link.exists():
                    link.symlink_to(Path(args.video).resolve())
                sources.append(str(link))
            options = WatchOptions(
                sample_fps=fps, duration_s=args.watch_seconds, realtime=True, loop=True
            )
            cpu0 = time.process_time()
            summary = Watcher(detector, sources, AlertSink(), options).run()
            cpu = time.process_time() - cpu0  # this process's CPU time, all its threads
            expected = n * fps * summary["elapsed_s"]
            ok = summary["keeping_up"]
            trials.append(
                {
                    "streams": n,
                    "keeps_up": ok,
                    "samples": summary["samples"],
                    "received": summary["received"],
                    "expected_samples": round(expected, 1),
                    "busy_fraction": summary["busy_fraction"],
                    "latency_p50_s": summary["latency_s"]["p50"],
                    "latency_p95_s": summary["latency_s"]["p95"],
                    "reader_lag_p95_s": summary["reader_lag_p95_s"],
                    # what the load of other processes cannot inflate: CPU seconds per sample
                    # (decoding, encoding, scoring), and the streams a dedicated core could take
                    "cpu_s_per_sample": round(cpu / max(summary["samples"], 1), 4),
                    "streams_per_dedicated_core": round(
                        summary["samples"] / max(cpu, 1e-9) / fps, 2
                    ),
                    "dropped": sum(s["dropped"] for s in summary["sources"].values()),
                }
            )
            log(f"watch bench: {trials[-1]}")
            if not ok:
                break
            best = n
    finally:
        shutil.rmtree(links, ignore_errors=True)
    report["watch"] = {
        "device": str(encoder.device),
        "cpu_core": core,
        "torch_threads": torch.get_num_threads(),
        "sample_fps": fps,
        "seconds_per_trial": args.watch_seconds,
        "streams_kept_up": best,
        "trials": trials,
    }


def print_watch_report(report: dict) -> None:
    m, s, w = report["machine"], report["settings"], report["watch"]
    print(f"machine: {m['cpu']} ({m['cores']} cores, load {m['load_avg_1m']}), {m['date']}")
    where = "one GPU" if w["cpu_core"] is None else "one CPU core"
    print(f"model: {s['model']} ({s['pretrained']}), {where}, {w['sample_fps']:g} fps")
    sc = report["watch_scoring"]
    print(f"scoring CPU per sample, {sc['stream']}; encoder {sc['encoder_cpu_ms_per_frame']} ms")
    print("window  samples  re-score (ms)  incremental (ms)  speed-up")
    for r in sc["windows"]:
        print(
            f"{r['window_s']:>5g} s  {r['window_samples']:>7}  "
            f"{r['rescore_cpu_ms_per_sample']:>13}  {r['incremental_cpu_ms_per_sample']:>16}  "
            f"{r['speedup']:>7}x"
        )
    print(
        "streams  keeps up  samples/expected  busy  latency p50/p95 (s)  dropped  "
        "CPU s/sample  streams/dedicated core"
    )
    for t in w["trials"]:
        print(
            f"{t['streams']:>7}  {'yes' if t['keeps_up'] else 'no':>8}  "
            f"{t['samples']:>7}/{t['expected_samples']:<8}  {t['busy_fraction']:.2f}  "
            f"{t['latency_p50_s']}/{t['latency_p95_s']}  {t['dropped']}  "
            f"{t['cpu_s_per_sample']}  {t['streams_per_dedicated_core']}"
        )
    print(f"{where} keeps up with {w['streams_kept_up']} stream(s) at {w['sample_fps']:g} fps")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _device(text: str) -> str:
    from vad.devices import DeviceError, parse_device

    try:
        return str(parse_device(text))
    except DeviceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("video", help="the video to benchmark")
    p.add_argument("--model", default="ViT-B-32")
    p.add_argument("--pretrained", default="none", help="weights (none: random, seeded)")
    p.add_argument("--sample-fps", type=float, default=10.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto", type=_device, metavar="{auto,cpu,cuda,cuda:N}")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16", "int8"])
    p.add_argument("--runtime", default="auto", choices=["auto", "torch", "openvino"])
    p.add_argument(
        "--runtimes",
        action="store_true",
        help="OpenVINO against torch, paired: agreement, encoder-only, prompt bank, "
        "end-to-end against --baseline, start-up (docs/benchmarks.md, issue 17)",
    )
    p.add_argument(
        "--baseline",
        type=Path,
        metavar="CHECKOUT",
        help="--runtimes: the end-to-end baseline is `vad score` of this checkout (e.g. main "
        "before the runtimes); default: this checkout with --runtime torch",
    )
    p.add_argument(
        "--encoder-only",
        action="store_true",
        help="--runtimes: agreement and encoder-only throughput only (large models)",
    )
    p.add_argument("--prompts", default="default", help="prompt bank of the end-to-end runs")
    p.add_argument("--repeats", type=int, default=3, help="encoder-only/end-to-end pairs")
    p.add_argument("--decode-repeats", type=int, default=2, help="timed decode-only passes")
    p.add_argument(
        "--max-encoder-frames",
        type=int,
        default=2048,
        help="encoder-only runs on at most this many frames and extrapolates (memory)",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "vad-bench-cache",
        help="the bench's own cache folder (text embeddings are kept between runs)",
    )
    p.add_argument("--memory", metavar="LONG", help="compare peak RSS on VIDEO and LONG")
    p.add_argument("--watch", action="store_true", help="vad watch: 2-fps streams per CPU core")
    p.add_argument("--watch-seconds", type=float, default=15.0, help="length of each trial")
    p.add_argument("--watch-max", type=int, default=8, help="most streams to try")
    p.add_argument(
        "--watch-windows",
        type=float,
        nargs="+",
        default=[60.0, 300.0],
        metavar="S",
        help="context windows of the scoring-cost measurement",
    )
    p.add_argument(
        "--watch-score-samples",
        type=int,
        default=200,
        help="samples timed per incremental run (a tenth for the re-score)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("vad").setLevel(logging.ERROR)  # the random-weights warning, once is enough
    for v in (args.video, args.memory):
        if v and not Path(v).is_file():
            raise SystemExit(f"bench: {v}: no such file")
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    if args.runtimes:
        from runtime_bench import compare_runtimes, print_runtimes

        report = {"machine": machine_info()}
        compare_runtimes(args, report)
        print(json.dumps(report, indent=1) if args.json else print_runtimes(report))
        return 0
    from vad.model.runtime import build_encoder

    if args.watch and not args.device.startswith("cuda"):  # pinned before the model compiles
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    try:
        encoder = build_encoder(
            args.model, args.pretrained, args.device, args.precision, args.runtime, args.cache_dir
        )
    except ValueError as exc:  # a device that is not there, a bad precision
        raise SystemExit(f"bench: {exc}") from None
    report: dict = {
        "machine": machine_info(),
        "settings": {
            "video": str(args.video),
            "model": args.model,
            "pretrained": args.pretrained,
            "device": str(encoder.device),
            "runtime": encoder.identity()["runtime"],
            "precision": encoder.precision,
            "sample_fps": args.sample_fps,
            "batch_size": args.batch_size,
            "prompts": args.prompts,
            "command": score_command(args, Path(args.video), Path("OUT"), args.cache_dir)[1:],
        },
    }
    if args.watch:
        report["settings"].update(sample_fps=2.0, command=["scripts/bench.py", *sys.argv[1:]])
        watch_bench(args, encoder, report)
        if args.json:
            print(json.dumps(report, indent=1))
        else:
            print_watch_report(report)
        return 0
    if args.memory:
        memory(args, encoder, args.cache_dir, report)
        report["memory"]["short"]["video"] = str(args.video)
        report["memory"]["long"]["video"] = str(args.memory)
    else:
        throughput(args, encoder, args.cache_dir, report)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_report(args, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

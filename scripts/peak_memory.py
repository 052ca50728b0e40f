"""Peak memory of a whole run, every process of it together: the command and all its
descendants (for ``--engine ray``: the driver, Ray's own servers and every worker and decode
process), polled with psutil.

    python scripts/peak_memory.py -- python -m vad score VIDEO --engine ray --out /tmp/o

Prints one JSON line: the peak over the run of the summed RSS (pages shared between processes,
such as the torch library and Ray's object store, counted once per process: an upper bound)
and of the summed PSS (shared pages split between the processes mapping them: what the run
really holds), the most processes seen at once, the wall time and the exit status.

With ``--inputs A B ...`` the command (which names ``{input}``) runs once per input, one after
the other in this invocation, and a last line gives each run's peak PSS as a ratio to the
first's: how memory grows with the video (issue 17: a 30-minute video within 1.25 x a
1-minute one). ``--clear DIR`` empties a folder before every run (the embedding cache, so that
every run decodes and encodes):

    python scripts/peak_memory.py --clear /tmp/c/embeddings \
        --inputs /tmp/vad-long/vtest_1min.avi /tmp/vad-long/vtest_30min.avi -- \
        python -m vad score {input} --engine ray --cache-dir /tmp/c --out /tmp/o
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time

import psutil


def tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def name(p: psutil.Process) -> str:
    """A short label: Ray names its workers in the process title (``ray::MapWorker(...)``)."""
    try:
        cmd = p.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "?"
    if not cmd:
        return p.name()
    first = cmd[0].rsplit("/", 1)[-1]
    if first.startswith("python"):
        return " ".join(cmd[1:3])[:60]
    return first[:60]


def sample(
    procs: list[psutil.Process], each: dict[str, int], now: dict[str, int]
) -> tuple[int, int]:
    rss = pss = 0
    now.clear()
    for p in procs:
        try:
            info = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
        label = f"{p.pid} {name(p)}"
        now[label] = getattr(info, "pss", info.rss)
        each[label] = max(each.get(label, 0), now[label])
    return rss, pss


def measure(command: list[str], interval: float, each: bool) -> dict:
    """Run ``command`` and poll its process tree until it exits: the report of one run."""
    peak = {"rss": 0, "pss": 0, "processes": 0}
    peaks: dict[str, int] = {}
    at_peak: dict[str, int] = {}  # each process's PSS when the sum peaked
    done = threading.Event()
    t0 = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    root = psutil.Process(child.pid)

    def poll() -> None:
        while not done.is_set():
            procs = tree(root)
            now: dict[str, int] = {}
            rss, pss = sample(procs, peaks, now)
            peak["rss"] = max(peak["rss"], rss)
            if pss > peak["pss"]:
                peak["pss"] = pss
                at_peak.clear()
                at_peak.update(now)
            peak["processes"] = max(peak["processes"], len(procs))
            done.wait(interval)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    status = child.wait()
    done.set()
    poller.join()
    report = {
        "command": " ".join(command),
        "exit_status": status,
        "wall_s": round(time.monotonic() - t0, 1),
        "peak_rss_gb": round(peak["rss"] / 1e9, 3),
        "peak_pss_gb": round(peak["pss"] / 1e9, 3),
        "max_processes": peak["processes"],
    }
    if each:
        report["each_peak_pss_mb"] = {
            k: round(v / 1e6) for k, v in sorted(peaks.items(), key=lambda kv: -kv[1])
        }
        report["at_peak_pss_mb"] = {
            k: round(v / 1e6) for k, v in sorted(at_peak.items(), key=lambda kv: -kv[1])
        }
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between polls")
    parser.add_argument(
        "--each",
        action="store_true",
        help="also each process's peak PSS, and its PSS when the sum peaked",
    )
    parser.add_argument(
        "--inputs", nargs="+", metavar="INPUT", help="run once per input, as {input}"
    )
    parser.add_argument(
        "--clear", action="append", default=[], metavar="DIR", help="remove DIR before each run"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the run (after --)")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")
    if args.inputs and not any("{input}" in part for part in command):
        parser.error("with --inputs, the command names {input}")
    reports = []
    for item in args.inputs or [None]:
        for folder in args.clear:
            shutil.rmtree(folder, ignore_errors=True)
        run = [part.replace("{input}", item) for part in command] if item else command
        reports.append(measure(run, args.interval, args.each))
        print(json.dumps(reports[-1]), flush=True)
    if len(reports) > 1:
        first = reports[0]["peak_pss_gb"]
        pairs = zip(args.inputs, reports, strict=True)
        ratios = {i: round(r["peak_pss_gb"] / first, 3) for i, r in pairs}
        print(json.dumps({"peak_pss_ratio_to_first": ratios}))
    return int(any(r["exit_status"] != 0 for r in reports))


if __name__ == "__main__":
    sys.exit(main())

"""Calibration per camera: what normal looks like for one camera, learnt from footage known to be
normal (``vad calibrate``) and used by ``vad score`` and ``vad watch`` (``--calibration``).

A calibration stores
- the scene context found on the footage (used as the fixed context unless ``--context`` is
  given, so scoring does not depend on re-inferring the scene),
- a **normality memory**: at most ``memory_size`` frame embeddings, evenly spaced over the
  footage, with the video and time each came from,
- the distribution of the footage's scores, and the **event rate curve**: how many events per
  hour of this normal footage ``vad score`` would report at each threshold 0, 0.001, ..., 1.

Novelty. For a sampled frame with embedding ``x`` (unit norm) and semantic score ``s``::

    d(x) = 1 - mean of the k = 3 largest cosine similarities between x and the memory
    n(x) = clip((d(x) - d50) / (d99 - d50), 0, 1)
    score = 1 - (1 - s) * (1 - lambda * n(x))          (lambda = 0.5)

where ``d50`` and ``d99`` are the median and 99th percentile of ``d`` over the normal footage
itself, each frame measured against memory frames of *other* moments (not within 10 s of it in
the same video, so a frame is not its own neighbour). A frame as close to the memory as a typical
normal frame keeps its semantic score; one farther than 99 % of normal frames has its distance
to 1 halved (lambda = 0.5). The semantic score still decides *what* is anomalous; novelty
raises what this camera has never shown.

Threshold. With ``--false-alarms-per-hour R`` the event threshold is the lowest threshold whose
event rate on the calibration footage (computed with the novelty term, as above) is at most R.
Footage shorter than 1/R hours cannot show that rate: the threshold then sits just above the
highest normal score, and the calibration says so.

Files: ``camera.json`` (readable settings and statistics) and ``camera.npz`` beside it (the
arrays); loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vad.cache import VideoEmbeddings
from vad.files import atomic_write_text
from vad.model.runtime import encoder_facts
from vad.scoring.temporal import find_events

log = logging.getLogger(__name__)

FORMAT = "vad-calibration"
VERSION = 1
NOVELTY_K = 3
NOVELTY_WEIGHT = 0.5
EXCLUDE_S = 10.0
THRESHOLDS = np.round(np.linspace(0.0, 1.0, 1001), 3)
RECIPE_KEYS = ("head", "anchor", "refine", "motion_gate")  # Detector attributes (Scoring)
# what a calibration written before a key existed was made with (anchor: true was the mean)
RECIPE_BEFORE = {"anchor": {True: "mean", False: "none"}, "motion_gate": {None: "off"}}
MARGIN = 0.01  # above the highest normal score, when the footage is too short for the rate


class CalibrationError(ValueError):
    """A calibration file that cannot be used: one line naming the file and the problem."""


def novelty_distance(
    x: np.ndarray, memory: np.ndarray, mask: np.ndarray | None = None, k: int = NOVELTY_K
) -> np.ndarray:
    """``d(x)``: 1 - mean of the ``k`` largest cosine similarities of each row of ``x`` to
    ``memory`` (rows where ``mask`` is True are left out)."""
    sims = np.asarray(x, np.float32) @ np.asarray(memory, np.float32).T
    if mask is not None:
        sims = np.where(mask, -np.inf, sims)
    k = max(1, min(k, sims.shape[1]))
    top = -np.sort(-sims, axis=1)[:, :k]
    finite = np.isfinite(top)
    n = finite.sum(axis=1)
    mean = np.where(n > 0, np.where(finite, top, 0.0).sum(axis=1) / np.maximum(n, 1), -1.0)
    return (1.0 - mean).astype(np.float64)


def combine(semantic: np.ndarray, novelty: np.ndarray, weight: float = NOVELTY_WEIGHT):
    """``1 - (1 - s) * (1 - weight * n)``: the calibrated per-sample score."""
    return 1.0 - (1.0 - np.asarray(semantic)) * (1.0 - weight * np.asarray(novelty))


@dataclass
class Calibration:
    about: dict
    memory: np.ndarray  # (M, D) unit-norm embeddings
    memory_video: np.ndarray  # (M,) index into about["videos"]
    memory_time: np.ndarray  # (M,) seconds
    rate_per_hour: np.ndarray  # (len(THRESHOLDS),) events per hour of normal footage
    path: Path | None = None
    _warned: set = field(default_factory=set)

    @property
    def d50(self) -> float:
        return self.about["novelty"]["d50"]

    @property
    def d99(self) -> float:
        return self.about["novelty"]["d99"]

    def novelty(self, embeddings: np.ndarray, mask=None) -> np.ndarray:
        emb = np.asarray(embeddings, np.float32)
        if emb.ndim != 2 or emb.shape[1] != self.memory.shape[1]:
            where = self.path or "calibration"
            raise CalibrationError(
                f"{where}: memory has {self.memory.shape[1]}-d embeddings but the model gives "
                f"{emb.shape[-1]}-d ones (calibrated with another model)"
            )
        d = novelty_distance(emb, self.memory, mask)
        return np.clip((d - self.d50) / max(self.d99 - self.d50, 1e-6), 0.0, 1.0)

    def adjust(self, emb: VideoEmbeddings, raw: np.ndarray) -> np.ndarray:
        """Semantic scores -> calibrated scores."""
        return combine(raw, *self.sample_novelty(emb))

    def sample_novelty(self, emb: VideoEmbeddings) -> tuple[np.ndarray, float]:
        """The Detector's ``sample_novelty`` hook: each sample's ``n(x)`` and its weight."""
        return self.novelty(emb.embeddings), float(self.about["novelty"]["weight"])

    def threshold_for(self, false_alarms_per_hour: float) -> tuple[float, str | None]:
        """The lowest threshold whose event rate on the normal footage is at most the target;
        a note when the footage is too short to show that rate."""
        if not (false_alarms_per_hour >= 0 and math.isfinite(false_alarms_per_hour)):
            raise CalibrationError(
                f"--false-alarms-per-hour must be a number >= 0, got {false_alarms_per_hour}"
            )
        ok = np.flatnonzero(self.rate_per_hour <= false_alarms_per_hour + 1e-9)
        hours = self.about["hours"]
        note = None
        if hours * false_alarms_per_hour < 1.0:
            # one event on this footage is already more than the target rate
            top = self.about["scores"]["max"]
            note = (
                f"{hours * 60:.1f} min of normal footage cannot show a rate of "
                f"{false_alarms_per_hour:g}/hour: threshold set just above the highest "
                "normal score; calibrate on longer footage for a finer threshold"
            )
            return round(min(1.0, top + MARGIN), 3), note
        return float(THRESHOLDS[ok[0]]) if len(ok) else 1.0, note

    def describe(self) -> str:
        a = self.about
        ctx = a["context"].get("scene") or "none"
        return (
            f"calibration: {len(a['videos'])} videos, {a['hours'] * 60:.1f} min of normal "
            f"footage, scene {ctx}, memory {len(self.memory)} frames; normal scores p50 "
            f"{a['scores']['p50']:.3f}, p99 {a['scores']['p99']:.3f}, max {a['scores']['max']:.3f}"
        )


def _leave_out_mask(video_idx, times, mem_video, mem_time) -> np.ndarray:
    same = video_idx[:, None] == mem_video[None, :]
    near = np.abs(times[:, None] - mem_time[None, :]) <= EXCLUDE_S
    return same & near


def calibrate(detector, paths, memory_size: int = 2048) -> Calibration:
    """Score the normal footage ``paths`` with ``detector`` (its settings) and learn the
    camera's calibration."""
    explain, detector.explain = getattr(detector, "explain", True), False  # scores are read
    try:
        return _calibrate(detector, paths, memory_size)
    finally:
        detector.explain = explain


def _calibrate(detector, paths, memory_size: int) -> Calibration:
    if memory_size < NOVELTY_K:
        raise CalibrationError(f"--memory-size must be at least {NOVELTY_K}, got {memory_size}")
    embs = [detector.embed(p) for p in paths]  # raises VideoError naming a bad file
    context = _footage_context(detector, embs, paths)  # 1. the scene
    # 2. the memory: evenly spaced frames over all the footage
    all_emb = np.concatenate([e.embeddings for e in embs]).astype(np.float32)
    all_vid = np.concatenate([np.full(len(e.times), i) for i, e in enumerate(embs)])
    all_time = np.concatenate([e.times for e in embs]).astype(np.float64)
    keep = np.unique(np.linspace(0, len(all_emb) - 1, min(memory_size, len(all_emb))).astype(int))
    memory, mem_vid, mem_time = all_emb[keep], all_vid[keep], all_time[keep]
    # 3. the novelty reference: each frame against the memory of other moments
    d = np.concatenate(
        [
            novelty_distance(
                e.embeddings,
                memory,
                _leave_out_mask(np.full(len(e.times), i), e.times, mem_vid, mem_time),
            )
            for i, e in enumerate(embs)
        ]
    )
    d50, d99 = float(np.percentile(d, 50)), float(np.percentile(d, 99))
    about = {
        "format": FORMAT,
        "version": VERSION,
        "videos": [str(p) for p in paths],
        "hours": 0.0,
        "model": detector.model,
        "pretrained": getattr(detector.encoder, "pretrained_label", detector.pretrained),
        **encoder_facts(detector.encoder),  # the memory's embeddings: runtime and precision
        "prompts": detector.bank.name,
        "sample_fps": detector.sample_fps,
        # the scoring recipe: another recipe has another score distribution
        **{key: getattr(detector, key, None) for key in RECIPE_KEYS},
        "smoothing": {"method": detector.smoothing, "window_s": detector.window_s},
        "context": context,
        "novelty": {
            "k": NOVELTY_K,
            "weight": NOVELTY_WEIGHT,
            "d50": round(d50, 6),
            "d99": round(d99, 6),
            "exclude_s": EXCLUDE_S,
            "formula": "score = 1 - (1 - semantic) * (1 - weight * clip((d - d50) / (d99 - d50),"
            " 0, 1)); d = 1 - mean of the k largest cosine similarities to the memory",
        },
    }
    cal = Calibration(about, memory, mem_vid.astype(np.int32), mem_time, np.zeros(len(THRESHOLDS)))
    # 4. the calibrated scores of the normal footage, and the event rate at every threshold
    cal.rate_per_hour, hours, allf = _event_rates(detector, cal, embs, paths)
    about["hours"] = round(hours, 6)
    about["scores"] = {
        f"p{q}": round(float(np.percentile(allf, q)), 6) for q in (1, 5, 25, 50, 75, 95, 99)
    }
    about["scores"]["max"] = round(float(allf.max()), 6)
    about["scores"]["histogram"] = np.histogram(allf, bins=20, range=(0, 1))[0].tolist()
    about["memory_size"] = len(memory)
    return cal


def _footage_context(detector, embs: list, paths: list) -> dict:
    """Step 1, the scene: the one given, or the posterior averaged over the videos (as auto
    context finds it); an auto detector is then set to that scene, where it will be used."""
    detector.sample_novelty = None
    first = [detector.score_embeddings(e, video=p) for e, p in zip(embs, paths, strict=True)]
    if detector.context.strip().lower() != "auto":
        return first[0]["context"]
    post: dict[str, float] = {}
    for r in first:
        for name, p in r["context"]["posterior"].items():
            post[name] = post.get(name, 0.0) + p / len(first)
    scene = max(post, key=post.get)
    context = {"mode": "auto", "scene": scene, "probability": round(post[scene], 4)}
    context["posterior"] = dict(sorted(post.items(), key=lambda kv: -kv[1])[:5])
    detector.context = scene
    return context


def _event_rates(detector, cal: Calibration, embs: list, paths: list):
    """Step 4: ``(events per hour at every threshold, hours, every frame's score)`` of the
    normal footage scored with the calibration's novelty (each frame against the memory of
    other moments)."""
    frame_scores, seconds = [], 0.0
    for i, (e, p) in enumerate(zip(embs, paths, strict=True)):
        mask = _leave_out_mask(np.full(len(e.times), i), e.times, cal.memory_video, cal.memory_time)

        def leave_out(emb, mask=mask):
            return cal.novelty(emb.embeddings, mask), NOVELTY_WEIGHT

        detector.sample_novelty = leave_out
        result = detector.score_embeddings(e, video=p)
        frame_scores.append((np.asarray(result["scores"]), float(result["fps"])))
        seconds += result["num_frames"] / result["fps"]
    detector.sample_novelty = None
    hours = seconds / 3600.0
    counts = np.zeros(len(THRESHOLDS))
    for scores, fps in frame_scores:
        top = scores.max()
        for j, t in enumerate(THRESHOLDS):
            if t > top:
                break
            counts[j] += len(find_events(scores, fps, float(t)))
    return counts / max(hours, 1e-9), hours, np.concatenate([s for s, _ in frame_scores])


def save_calibration(cal: Calibration, path: str | Path) -> Path:
    """Write ``path`` (JSON) and the arrays beside it (same name, ``.npz``)."""
    path = Path(path)
    if path.suffix != ".json":
        path = path.with_suffix(path.suffix + ".json") if path.suffix else path.with_suffix(".json")
    arrays = path.with_suffix(".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = arrays.with_name(f".{arrays.name}.tmp.npz")
    np.savez_compressed(
        tmp,
        memory=cal.memory.astype(np.float16),
        memory_video=cal.memory_video,
        memory_time=cal.memory_time,
        thresholds=THRESHOLDS,
        rate_per_hour=cal.rate_per_hour,
    )
    tmp.replace(arrays)
    doc = {**cal.about, "arrays": arrays.name}
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    cal.path = path
    return path


def load_calibration(path: str | Path) -> Calibration:
    path = Path(path)
    try:
        about = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CalibrationError(f"{path}: no such calibration file") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CalibrationError(f"{path}: not a calibration file ({exc})") from exc
    if not isinstance(about, dict) or about.get("format") != FORMAT:
        raise CalibrationError(f"{path}: not a calibration file (made by vad calibrate)")
    if about.get("version") != VERSION:
        raise CalibrationError(f"{path}: calibration version {about.get('version')} unsupported")
    arrays = path.parent / str(about.get("arrays", ""))
    try:
        with np.load(arrays, allow_pickle=False) as z:
            memory = z["memory"].astype(np.float32)
            cal = Calibration(
                about,
                memory / np.maximum(np.linalg.norm(memory, axis=1, keepdims=True), 1e-12),
                z["memory_video"],
                z["memory_time"],
                z["rate_per_hour"].astype(np.float64),
                path=path,
            )
    except (OSError, ValueError, KeyError) as exc:
        raise CalibrationError(f"{arrays}: cannot read the calibration arrays ({exc})") from exc
    if len(cal.rate_per_hour) != len(THRESHOLDS) or cal.memory.ndim != 2 or not len(memory):
        raise CalibrationError(f"{arrays}: calibration arrays have unexpected shapes")
    return cal


def apply_calibration(
    detector, cal: Calibration, false_alarms_per_hour: float = 1.0, context_given: bool = False
) -> dict:
    """Set ``detector`` up to score with ``cal``: threshold, novelty term and (unless a context
    was given) the calibrated scene. Returns what results record about it."""
    where = cal.path or "calibration"
    for key in ("model", "prompts", "sample_fps", *RECIPE_KEYS):
        have = detector.bank.name if key == "prompts" else getattr(detector, key, None)
        made = cal.about.get(key)
        made = RECIPE_BEFORE.get(key, {}).get(made, made) if isinstance(made, bool | None) else made
        if str(have) != str(made):
            raise CalibrationError(
                f"{where}: calibrated with {key} {made}, but this run uses {have} "
                "(calibrate again with this recipe)"
            )
    _check_made_by(detector, cal, where)
    threshold, note = cal.threshold_for(false_alarms_per_hour)
    detector.event_threshold = threshold
    detector.sample_novelty = cal.sample_novelty
    scene = cal.about["context"].get("scene")
    if scene and not context_given:
        detector.context = scene
    record = {
        "file": str(where),
        "threshold": threshold,
        "false_alarms_per_hour": false_alarms_per_hour,
        "calibration_hours": cal.about["hours"],
        "scene": scene if not context_given else None,
        "novelty": {k: cal.about["novelty"][k] for k in ("k", "weight", "d50", "d99")},
    }
    if note:
        record["note"] = note
    return record


def _check_made_by(detector, cal: Calibration, where) -> None:
    """One warning line when the calibration's embeddings were made by another runtime or at
    another precision than this run's: they agree to a cosine of 0.999 (tested), so the memory
    still works, but the two are not silently mixed."""
    now = encoder_facts(detector.encoder)
    then = {k: cal.about.get(k, default) for k, default in (("runtime", "torch"),
                                                              ("precision", "fp32"))}  # fmt: skip
    if now != then:
        log.warning(
            "%s: calibrated with %s/%s embeddings, this run makes %s/%s ones (they agree to a "
            "cosine of 0.999; recalibrate to match exactly)",
            where, then["runtime"], then["precision"], now["runtime"], now["precision"],
        )  # fmt: skip


class RecordingCalibration:
    """An engine wrapper that writes ``calibration`` (what :func:`apply_calibration`
    returned) into every result, so each ``<stem>.json`` says which calibration scored it."""

    def __init__(self, engine, record: dict):
        self.engine = engine
        self.record = record

    def run(self, paths, **kw):
        for out in self.engine.run(paths, **kw):
            if out.result is not None:
                out.result["calibration"] = self.record
            yield out

    def close(self) -> None:
        self.engine.close()

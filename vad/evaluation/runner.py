"""``vad eval``, the runner: score every video of a labelled test set once and measure frame-level
AUC / AP against its ground truth. The metric math lives in :mod:`vad.evaluation.metrics` (pure
functions), the figures and HTML in :mod:`vad.evaluation.report`.

Stages: annotations -> listed-but-missing videos set aside -> an engine (:mod:`vad.engines`: local
or Ray) embeds (through the embedding cache) and scores each video -> ground truth at the
*decoded* length -> metrics. The embeddings can
be kept in memory so that an ablation grid re-scores them under other settings (context,
smoothing, prompt bank) without decoding or encoding anything again.

>>> anns = load_annotations("ucf-crime", "Temporal_Anomaly.txt", "Videos")  # doctest: +SKIP
>>> run = Evaluator(LocalEngine(Detector())).run(anns, Path("out/scores"))   # doctest: +SKIP
>>> run.metrics(threshold=0.5)["auc"]                                       # doctest: +SKIP"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vad.cache import VideoEmbeddings
from vad.evaluation.datasets.base import VideoAnnotation, split_present
from vad.evaluation.datasets.protocol import VAD, Protocol
from vad.evaluation.metrics import PerVideo, compute_metrics, frame_auc
from vad.outputs.naming import output_stems
from vad.outputs.results import write_result


@dataclass
class ScoredVideo:
    """One evaluated video: its annotation, output stem, ``vad score`` result and the
    ground-truth protocol it is evaluated under."""

    annotation: VideoAnnotation
    stem: str
    result: dict
    from_cache: bool = False
    protocol: Protocol = VAD

    @property
    def scores(self) -> np.ndarray:
        """The per-frame scores exactly as written to ``scores/<stem>.json``."""
        return np.asarray(self.result["scores"], dtype=np.float64)

    @property
    def labels(self) -> np.ndarray:
        """Ground truth of the evaluated frames (the protocol's, at the decoded length;
        annotations past the end are clipped)."""
        return self.annotation.frame_labels(int(self.result["num_frames"]), self.protocol)

    @property
    def eval_scores(self) -> np.ndarray:
        """The scores of the frames the protocol evaluates (all of them under ``vad``)."""
        return self.scores[: self.protocol.kept_frames(int(self.result["num_frames"]))]

    def as_per_video(self) -> PerVideo:
        return (self.annotation.name, self.annotation.label, self.labels, self.eval_scores)


@dataclass
class EvalRun:
    """What :meth:`Evaluator.run` found: scored, missing and failed videos, and timings."""

    scored: list[ScoredVideo]
    missing: list[VideoAnnotation]
    failed: list[tuple[VideoAnnotation, str]]
    embeddings: dict[str, VideoEmbeddings] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    protocol: Protocol = VAD

    def use_protocol(self, protocol: Protocol) -> None:
        """Evaluate every scored video under ``protocol`` (the same for both engines)."""
        self.protocol = protocol
        for v in self.scored:
            v.protocol = protocol

    @property
    def num_listed(self) -> int:
        return len(self.scored) + len(self.missing) + len(self.failed)

    @property
    def cache_hits(self) -> int:
        return sum(v.from_cache for v in self.scored)

    def metrics(self, threshold: float = 0.5) -> dict:
        """:func:`~vad.evaluation.metrics.compute_metrics` over the scored videos (None values when
        no video could be scored)."""
        if not self.scored:
            return empty_metrics(threshold)
        return compute_metrics([v.as_per_video() for v in self.scored], threshold)


def empty_metrics(threshold: float) -> dict:
    """The metrics of an evaluation in which no video could be scored."""
    return {
        "auc": None,
        "ap": None,
        "ap_trapz": None,
        "auc_anomalous_only": None,
        "per_class": {},
        "false_alarm_rate": None,
        "threshold": float(threshold),
        "num_frames": 0,
        "num_videos": 0,
        "num_anomalous_videos": 0,
    }


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


class Evaluator:
    """Scores the videos of a labelled test set with an engine.

    Parameters
    ----------
    engine : a :class:`~vad.engines.protocol.Engine` (the local engine or Ray), or a
        :class:`~vad.pipeline.Detector` to run in this process (its embedding cache makes
        re-runs cheap).
    keep_embeddings : keep every video's embeddings in :attr:`EvalRun.embeddings` (for
        :func:`run_ablation`).
    protocol : the ground-truth convention of the run (:mod:`vad.evaluation.datasets.protocol`).
    progress : show a progress bar on stderr (only when stderr is a terminal).
    echo : where per-video problems go, one line each (default: stderr).
    """

    def __init__(
        self,
        engine,
        keep_embeddings: bool = False,
        progress: bool = True,
        echo: Callable[[str], None] | None = None,
        protocol: Protocol = VAD,
    ):
        if not hasattr(engine, "run"):  # a Detector
            from vad.engines.local import LocalEngine

            engine = LocalEngine(engine)
        self.engine = engine
        self.keep_embeddings = keep_embeddings
        self.protocol = protocol
        self.progress = progress
        self.echo = echo or _stderr

    def run(
        self, annotations: Sequence[VideoAnnotation], scores_dir: Path | None = None
    ) -> EvalRun:
        """Embed and score every listed video present on disk; write ``<stem>.json``/``.csv``
        to ``scores_dir`` as each one finishes. Missing and undecodable videos are reported
        through ``echo`` and excluded, never scored as 0. Scored videos keep the listed order,
        whatever order the engine finishes them in."""
        from tqdm import tqdm

        t_start = time.perf_counter()
        present, missing = split_present(annotations)
        for ann in missing:
            self.echo(f"vad: missing: {ann.path} (listed as {ann.name}); excluded")
        stems = output_stems([a.path for a in present])
        run = EvalRun(scored=[], missing=missing, failed=[])
        scored: dict[int, ScoredVideo] = {}
        failed: dict[int, str] = {}
        embed_s = score_s = 0.0
        bar = tqdm(
            total=len(present),
            desc="evaluating",
            unit="video",
            disable=None if self.progress else True,
            file=sys.stderr,
        )
        try:
            outcomes = self.engine.run(
                [a.path for a in present], keep_embeddings=self.keep_embeddings
            )
            for out in outcomes:
                bar.update(1)
                bar.set_postfix_str(out.path.name[:40])
                ann, stem = present[out.index], stems[out.index]
                if out.error is not None:
                    failed[out.index] = out.error
                    self._echo(bar, f"vad: error: {out.error}; excluded")
                    continue
                embed_s += out.seconds - out.score_seconds
                score_s += out.score_seconds
                if scores_dir is not None:
                    write_result(out.result, scores_dir, stem)
                scored[out.index] = ScoredVideo(ann, stem, out.result, from_cache=out.from_cache)
                if self.keep_embeddings:
                    run.embeddings[stem] = out.embeddings
        finally:
            bar.close()
        run.scored = [scored[i] for i in sorted(scored)]
        run.failed = [(present[i], failed[i]) for i in sorted(failed)]
        run.use_protocol(self.protocol)
        run.seconds = {
            "embed": round(embed_s, 3),
            "score": round(score_s, 3),
            "total": round(time.perf_counter() - t_start, 3),
        }
        return run

    def _echo(self, bar, line: str) -> None:
        with bar.external_write_mode(file=sys.stderr):  # keeps a live progress bar intact
            self.echo(line)


def video_summaries(run: EvalRun) -> list[dict]:
    """One JSON-ready line per scored video: frames, ground truth, score range, own AUC."""
    out = []
    for v in run.scored:
        labels, scores = v.labels, v.eval_scores
        past_end = v.annotation.intervals_past_end(len(v.scores), v.protocol)
        auc = frame_auc(labels, scores) if len(scores) else float("nan")
        out.append(
            {
                "name": v.annotation.name,
                "stem": v.stem,
                "label": v.annotation.label,
                "num_frames": int(len(v.scores)),
                "evaluated_frames": int(len(scores)),
                "anomalous_frames": int(labels.sum()),
                "annotation_past_end": bool(past_end),
                "intervals_past_end": len(past_end),
                "max_score": round(float(v.scores.max()), 6) if len(v.scores) else None,
                "auc": None if np.isnan(auc) else round(float(auc), 6),
                "from_cache": v.from_cache,
            }
        )
    return out


def past_end_lines(run: EvalRun) -> list[str]:
    """One line per scored video with annotated intervals (or mask runs) ending after its last
    decoded frame."""
    lines = []
    for v in run.scored:
        n = len(v.scores)
        past = v.annotation.intervals_past_end(n, v.protocol)
        if past:
            spans = ", ".join(f"({s}, {e})" for s, e in past)
            lines.append(
                f"vad: warning: {v.annotation.name}: {len(past)} annotated interval(s) end after "
                f"the last decoded frame ({n} frames): {spans}; clipped"
            )
    return lines


SMALL_SET_VIDEOS = 10  # fewer videos than this, or fewer than 2 anomalous: a caution


SMALL_SET_ANOMALOUS = 2


def cautions(metrics: dict, results: Sequence[dict]) -> list[str]:
    """What a reader of these metrics must know first: a test set too small for its AUC and AP
    to mean much, and random model weights.

    >>> cautions({"num_videos": 3, "num_anomalous_videos": 1}, [])[0][:36]
    'small test set: 3 videos, 1 anomalou'
    """
    from vad.console import plural

    out = []
    n, anomalous = metrics.get("num_videos", 0), metrics.get("num_anomalous_videos", 0)
    if n < SMALL_SET_VIDEOS or anomalous < SMALL_SET_ANOMALOUS:
        out.append(
            f"small test set: {plural(n, 'video')}, {anomalous} anomalous; with fewer than "
            f"{SMALL_SET_VIDEOS} videos or {SMALL_SET_ANOMALOUS} anomalous ones, one video moves "
            "the AUC and AP a lot: not comparable with published full-split numbers"
        )
    warnings = [str(w) for r in results for w in r.get("warnings", [])]
    if any(w.startswith("random model weights") for w in warnings):
        out.append("random model weights: these metrics are meaningless (a pipeline check only)")
    return out


def metrics_document(run: EvalRun, metrics: dict, about: dict) -> dict:
    """The content of ``metrics.json``: ``about`` (dataset, annotations, settings), the
    ``cautions`` (:func:`cautions`), then the metrics, the protocol, what was missing or failed,
    intervals past the end, per-video lines, cache use and timings."""
    videos = video_summaries(run)
    return {
        **about,
        "cautions": cautions(metrics, [v.result for v in run.scored]),
        **metrics,
        "protocol": run.protocol.describe(),
        "intervals_past_end": {
            "videos": sum(v["intervals_past_end"] > 0 for v in videos),
            "intervals": sum(v["intervals_past_end"] for v in videos),
        },
        "num_listed": run.num_listed,
        "missing": [{"name": a.name, "path": str(a.path)} for a in run.missing],
        "failed": [{"name": a.name, "path": str(a.path), "error": e} for a, e in run.failed],
        "videos": videos,
        "cache": {"hits": run.cache_hits, "misses": len(run.scored) - run.cache_hits},
        "seconds": run.seconds,
    }

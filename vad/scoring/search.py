"""Search footage by what it shows: ``vad search QUERY PATH...`` ranks the *moments* of videos by
how similar their frames are to a text ("a person climbing a fence") or to an image.

It reads the frame embeddings ``vad score`` already cached (same encoder, same cache, same
sampling rate: :class:`~vad.cache.EmbeddingCache`) and encodes only the footage not cached
yet. A text query is embedded as the prompt banks' descriptions are (the mean over a few
surveillance templates); an image query with the image encoder. Each sampled frame's cosine
similarity to the query is one matrix product; the best sample is a moment's peak, and the
samples next to it that match nearly as well join it (:func:`find_moments`); then the next.

Frigate's semantic search, the one operators know, embeds each tracked object's thumbnail with
a CLIP model, stores the vectors in SQLite (sqlite-vec) and answers text and "find similar"
image queries by vector distance. Here the unit is the sampled frame and the store is the
embedding cache itself: a brute-force product over hours of 2-fps footage (7,200 x 512 floats
an hour) takes milliseconds, so no index service is needed (docs/benchmarks.md, "Search").

>>> rng = np.random.default_rng(0)
>>> frames = rng.standard_normal((20, 8)); frames /= np.linalg.norm(frames, axis=1)[:, None]
>>> video = VideoEmbeddings(frames, np.arange(20), np.arange(20) / 2.0, 20, 2.0)
>>> top = find_moments(frames[7], [("cam.mp4", video)], top=1)[0]
>>> top.video, top.peak_s, round(top.similarity, 3)
('cam.mp4', 3.5, 1.0)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vad.cache import VideoEmbeddings

log = logging.getLogger(__name__)

QUERY_TEMPLATES = (
    "a surveillance camera frame of {}.",
    "a CCTV image of {}.",
    "a security camera image of {}.",
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")


@dataclass
class Moment:
    """A stretch of one video that matches the query: its sampled frames from ``start_s`` to
    ``end_s`` (seconds), the best at ``peak_s`` with cosine ``similarity``."""

    video: str
    start_s: float
    end_s: float
    peak_s: float
    similarity: float
    hits: int
    start_clock: str | None = None
    peak_clock: str | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        return {k: v for k, v in out.items() if v is not None or not k.endswith("_clock")}


def is_image_query(query: str | Path) -> bool:
    """Whether ``query`` names an image file (then the search is by image, else by text)."""
    path = Path(str(query)).expanduser()
    try:
        return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    except OSError:
        return False


def text_query_embedding(encoder, text: str) -> np.ndarray:
    """A text's embedding (D,), unit norm: the mean over :data:`QUERY_TEMPLATES`, as the prompt
    banks' descriptions are embedded (CLIP's template ensemble)."""
    text = text.strip().rstrip(".")
    if not text:
        raise ValueError("the search query is empty")
    emb = np.asarray(encoder.encode_text([t.format(text) for t in QUERY_TEMPLATES]), np.float32)
    mean = emb.mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def image_query_embedding(encoder, path: str | Path) -> np.ndarray:
    """An image file's embedding (D,), unit norm, by the model's image encoder."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(Path(path).expanduser()) as img:
            rgb = np.array(img.convert("RGB"))  # writable, as torch wants it
    except (OSError, UnidentifiedImageError) as exc:
        raise ValueError(f"{path}: cannot read the query image ({exc})") from None
    emb = np.asarray(encoder.encode_frames(rgb[None]), np.float32)[0]
    return emb / max(float(np.linalg.norm(emb)), 1e-12)


def query_embedding(encoder, query: str | Path) -> tuple[np.ndarray, str]:
    """``(embedding, kind)``: an image file is searched by image, anything else as text."""
    if is_image_query(query):
        return image_query_embedding(encoder, query), "image"
    return text_query_embedding(encoder, str(query)), "text"


def find_moments(
    query: np.ndarray,
    videos: Sequence[tuple[str, VideoEmbeddings]],
    top: int = 10,
    gap_s: float | None = None,
    min_similarity: float | None = None,
) -> list[Moment]:
    """The ``top`` moments of ``videos`` (``(name, embeddings)`` pairs) most similar to the
    unit-norm ``query`` (D,), best first.

    The best sample of all the videos not yet in a moment is a moment's peak; the moment grows
    over the samples next to it (at most ``gap_s`` apart, default two sampling periods) while
    their similarity stays above half-way between the peak's and the video's median (the width
    at half height of the match); then the next best sample, until ``top`` moments are found
    (or none is left at ``min_similarity``).
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    query = np.asarray(query, np.float32)
    sims = [np.asarray(e.embeddings, np.float32) @ query for _, e in videos]
    if not sims or not sum(len(x) for x in sims):
        return []
    owner = np.concatenate([np.full(len(x), i) for i, x in enumerate(sims)])
    local = np.concatenate([np.arange(len(x)) for x in sims])
    order = np.argsort(-np.concatenate(sims), kind="stable")
    claimed = [np.zeros(len(x), bool) for x in sims]
    medians = [float(np.median(x)) if len(x) else 0.0 for x in sims]
    moments: list[Moment] = []
    for flat in order:
        v, i = int(owner[flat]), int(local[flat])
        sim, taken = sims[v], claimed[v]
        if taken[i]:
            continue
        if min_similarity is not None and sim[i] < min_similarity:
            break
        times = np.asarray(videos[v][1].times, np.float64)
        period = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
        gap = 2.0 * period if gap_s is None else gap_s
        level = (float(sim[i]) + medians[v]) / 2.0
        lo = hi = i
        while (
            lo > 0
            and not taken[lo - 1]
            and sim[lo - 1] >= level
            and (times[lo] - times[lo - 1] <= gap + 1e-6)
        ):
            lo -= 1
        while (
            hi < len(sim) - 1
            and not taken[hi + 1]
            and sim[hi + 1] >= level
            and (times[hi + 1] - times[hi] <= gap + 1e-6)
        ):
            hi += 1
        taken[lo : hi + 1] = True
        moments.append(
            Moment(
                video=str(videos[v][0]),
                start_s=round(float(times[lo]), 3),
                end_s=round(float(times[hi] + period), 3),
                peak_s=round(float(times[i]), 3),
                similarity=round(float(sim[i]), 4),
                hits=hi - lo + 1,
            )
        )
        if len(moments) == top:
            break
    return moments


@dataclass
class SearchResult:
    """What a search found: the ranked ``moments``, the query's ``kind`` (text or image), how
    much footage was searched, and the inputs that could not be (one line each)."""

    query: str
    kind: str
    moments: list[Moment]
    videos: int
    hours: float
    encoded: int  # videos that were not cached and were encoded now
    errors: list[str]

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "kind": self.kind,
            "videos": self.videos,
            "hours": round(self.hours, 4),
            "encoded": self.encoded,
            "moments": [{"rank": i + 1, **m.to_dict()} for i, m in enumerate(self.moments)],
            "errors": self.errors,
        }


def search(
    detector,
    query: str | Path,
    paths: Sequence[str | Path],
    top: int = 10,
    min_similarity: float | None = None,
    progress: bool = False,
    on_error: Callable[[str], None] | None = None,
) -> SearchResult:
    """Search ``paths`` with ``detector``'s encoder and cache (:meth:`Detector.search`): each
    video's embeddings come from the cache, or are encoded now (and cached) when missing, with
    a progress bar on stderr when ``progress``. A video that cannot be read is left out and
    reported (``on_error``, and in the result's ``errors``)."""
    from vad.media.frames import VideoError

    vector, kind = query_embedding(detector.encoder, query)
    errors: list[str] = []
    videos: list[tuple[str, VideoEmbeddings]] = []
    todo: list[Path] = []
    for path in map(Path, paths):
        try:
            hit = detector.cached_embeddings(path)
        except (VideoError, OSError) as exc:
            errors.append(str(exc) if isinstance(exc, VideoError) else f"{path}: {exc}")
            continue
        if hit is not None:
            videos.append((str(path), hit))
        else:
            todo.append(path)
    encoded = 0
    if todo:
        bar = _progress(detector, todo) if progress else None
        try:
            for path in todo:
                try:
                    videos.append((str(path), detector.embed(path)))
                    encoded += 1
                except VideoError as exc:
                    errors.append(str(exc))
                if bar is not None:
                    bar.next_video()
        finally:
            if bar is not None:
                bar.close()
    for error in errors:
        if on_error is not None:
            on_error(error)
    moments = find_moments(vector, videos, top=top, min_similarity=min_similarity)
    for m in moments:
        clock = detector.clock_of(m.video)
        if clock is not None:
            m.start_clock, m.peak_clock = clock.iso(m.start_s), clock.iso(m.peak_s)
    seconds = sum(e.num_frames / e.fps for _, e in videos if e.fps > 0)
    return SearchResult(str(query), kind, moments, len(videos), seconds / 3600, encoded, errors)


class _progress:
    """A bar over the sampled frames of the videos to encode (as ``vad score``'s)."""

    def __init__(self, detector, paths: Sequence[Path]):
        import sys

        from tqdm import tqdm

        from vad.media.sampler import estimate_samples_batch

        self.detector = detector
        self.expected = estimate_samples_batch(paths, detector.sample_fps)
        self.index, self.done = 0, 0
        self.bar = tqdm(
            total=sum(self.expected),
            desc=f"encoding {len(paths)} uncached videos",
            unit="frame",
            disable=None,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        self.previous = detector.on_samples
        detector.on_samples = self.advance

    def advance(self, n: int) -> None:
        n = min(n, max(self.expected[self.index] - self.done, 0))
        self.done += n
        self.bar.update(n)

    def next_video(self) -> None:
        self.advance(self.expected[self.index])  # the rest of its share (a cache hit: all)
        self.index, self.done = min(self.index + 1, len(self.expected) - 1), 0

    def close(self) -> None:
        self.detector.on_samples = self.previous
        self.bar.close()

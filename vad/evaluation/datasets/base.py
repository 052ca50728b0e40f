"""Common annotation record and helpers shared by all dataset readers.

Frame convention used everywhere in :mod:`vad.evaluation.datasets`: intervals hold the frame
numbers exactly as the annotation file writes them. Under the default protocol (``vad``) they are
**0-based** indices of decoded frames with **inclusive** ends, so ``(3, 5)`` marks frames 3, 4 and
5; other protocols (:mod:`vad.evaluation.datasets.protocol`) read the same numbers differently.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vad.evaluation.datasets.protocol import VAD, Protocol
from vad.media.files import VIDEO_EXTENSIONS  # one list of video suffixes for all of vad

NORMAL_LABEL = "Normal"
"""Class name used for videos without any anomaly."""


@dataclass
class VideoAnnotation:
    """Ground truth of one test video.

    Attributes:
        name: video file name as on disk, e.g. ``"Abuse028_x264.mp4"``.
        path: expected location under the videos folder; it may not exist (see
            :func:`split_present`).
        label: class name, ``"Normal"`` for normal videos.
        intervals: anomalous frame ranges as written in the file (0-based with inclusive end
            under the default protocol).
        mask: optional per-frame 0/1 ground truth (ShanghaiTech). When set, it *is* the ground
            truth and ``intervals`` only list its runs (0-based, inclusive).

    Example:
        >>> ann = VideoAnnotation("a.mp4", Path("a.mp4"), "Abuse", [(3, 5)])
        >>> ann.frame_labels(8).tolist()
        [0, 0, 0, 1, 1, 1, 0, 0]
    """

    name: str
    path: Path
    label: str
    intervals: list[tuple[int, int]] = field(default_factory=list)
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        for start, end in self.intervals:
            if start < 0 or end < start:
                raise ValueError(
                    f"{self.name}: invalid interval ({start}, {end}); "
                    "expected 0 <= start <= end (0-based, inclusive end)"
                )
        if self.mask is not None:
            mask = np.asarray(self.mask)
            if mask.ndim != 1:
                raise ValueError(f"{self.name}: mask must be 1-D, got shape {mask.shape}")
            self.mask = (mask != 0).astype(np.uint8)

    @property
    def is_anomalous(self) -> bool:
        """True when the video's class is not ``"Normal"``."""
        return self.label != NORMAL_LABEL

    def frame_labels(self, num_decoded_frames: int, protocol: Protocol = VAD) -> np.ndarray:
        """Return the 0/1 ``uint8`` ground truth of the frames ``protocol`` evaluates.

        Labels are built at the decoded length (annotations and decoders often disagree by a few
        frames, so the number of frames actually decoded is the reference): intervals running
        past it are clipped; a mask is truncated, or padded with its last label or zeros
        (``protocol.mask_pad``). Then the first ``protocol.kept_frames(num_decoded_frames)``
        labels are returned.

        Example (``(3, 5)`` in a 1-based file with inclusive ends marks 0-based frames 2..4):

        >>> from vad.evaluation.datasets.protocol import PROTOCOLS
        >>> ann = VideoAnnotation("a.mp4", Path("a.mp4"), "Abuse", [(3, 5)])
        >>> ann.frame_labels(8, PROTOCOLS["sultani"]).tolist()
        [0, 0, 1, 1, 1, 0, 0, 0]
        """
        n = int(num_decoded_frames)
        if n < 0:
            raise ValueError(f"{self.name}: num_decoded_frames must be >= 0, got {n}")
        labels = np.zeros(n, dtype=np.uint8)
        if self.mask is not None:
            m = min(n, len(self.mask))
            labels[:m] = self.mask[:m]
            if m < n and len(self.mask) and protocol.mask_pad == "last":
                labels[m:] = self.mask[-1]
        else:
            for start, end in self.intervals:
                a, b = protocol.to_half_open(start, end)
                labels[a : min(b, n)] = 1
        return labels[: protocol.kept_frames(n)]

    def intervals_past_end(
        self, num_decoded_frames: int, protocol: Protocol = VAD
    ) -> list[tuple[int, int]]:
        """The annotated intervals (or mask runs) that end after the last decoded frame.

        >>> ann = VideoAnnotation("a.mp4", Path("a.mp4"), "Abuse", [(3, 5), (7, 9)])
        >>> ann.intervals_past_end(8)
        [(7, 9)]
        """
        n = int(num_decoded_frames)
        if self.mask is not None:
            return [(s, e) for s, e in intervals_from_mask(self.mask) if e >= n]
        return [(s, e) for s, e in self.intervals if protocol.to_half_open(s, e)[1] > n]


def split_present(
    annotations: Iterable[VideoAnnotation],
) -> tuple[list[VideoAnnotation], list[VideoAnnotation]]:
    """Split annotations into ``(present, missing)`` by whether ``path`` exists on disk.

    Missing videos must be reported by the caller and excluded from scoring, never scored as 0.

    Example:
        >>> ann = VideoAnnotation("x.mp4", Path("/nope/x.mp4"), "Normal")
        >>> present, missing = split_present([ann])
        >>> [a.name for a in missing]
        ['x.mp4']
    """
    present: list[VideoAnnotation] = []
    missing: list[VideoAnnotation] = []
    for ann in annotations:
        (present if ann.path.exists() else missing).append(ann)
    return present, missing


def intervals_from_mask(mask: np.ndarray) -> list[tuple[int, int]]:
    """Return the runs of non-zero frames of a 1-D mask as inclusive ``(start, end)`` pairs.

    Example:
        >>> intervals_from_mask(np.array([0, 1, 1, 0, 1]))
        [(1, 2), (4, 4)]
    """
    m = np.concatenate([[0], (np.asarray(mask) != 0).astype(np.int8), [0]])
    edges = np.diff(m)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def check_annotation_file(path: str | Path) -> Path:
    """Return ``path`` as a :class:`Path`, raising if it is not an existing file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"annotation file not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path}: expected an annotation file, got a folder")
    return path


def check_videos_dir(videos_dir: str | Path) -> Path:
    """Return ``videos_dir`` as a :class:`Path`, raising if it is not an existing folder."""
    videos_dir = Path(videos_dir)
    if not videos_dir.is_dir():
        raise FileNotFoundError(f"videos folder not found: {videos_dir}")
    return videos_dir


def list_videos(videos_dir: Path, suffixes: Iterable[str] = VIDEO_EXTENSIONS) -> list[Path]:
    """Return the video files directly inside ``videos_dir`` (not recursive), sorted by name."""
    wanted = {s.lower() for s in suffixes}
    return sorted(p for p in videos_dir.iterdir() if p.is_file() and p.suffix.lower() in wanted)


def parse_int(token: str, where: str, what: str) -> int:
    """Parse an integer token, raising ``ValueError`` that says ``where`` and ``what``."""
    try:
        return int(token)
    except ValueError:
        raise ValueError(f"{where}: {what} must be an integer, got {token!r}") from None


def check_interval(start: int, end: int, where: str) -> tuple[int, int]:
    """Validate a 0-based inclusive interval, raising ``ValueError`` that says ``where``."""
    if start < 0 or end < start:
        raise ValueError(
            f"{where}: invalid interval ({start}, {end}); "
            "expected 0 <= start <= end (0-based frames, inclusive end)"
        )
    return start, end


def video_stem(name: str) -> str:
    """``name``'s last path component without a video suffix; other dots are kept (XD-Violence
    names such as ``A.Beautiful.Mind.2001__#00-25-20_...`` are full of them).

    Example:
        >>> video_stem("Abuse/Abuse028_x264.mp4"), video_stem("Abuse028_x264")
        ('Abuse028_x264', 'Abuse028_x264')
        >>> video_stem("A.Beautiful.Mind.2001__#1_label_A")
        'A.Beautiful.Mind.2001__#1_label_A'
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    suffix = Path(base).suffix
    return base[: -len(suffix)] if suffix and suffix.lower() in VIDEO_EXTENSIONS else base


def index_by_stem(videos: Iterable[Path]) -> dict[str, list[Path]]:
    """Map :func:`video_stem` -> the videos with that stem, in the given order."""
    index: dict[str, list[Path]] = {}
    for video in videos:
        index.setdefault(video_stem(video.name), []).append(video)
    return index


def find_by_stem(name: str, by_stem: dict[str, list[Path]], where: str) -> Path | None:
    """The one video of ``by_stem`` whose stem is ``name``'s (with or without a suffix): the
    file of that exact name if there is one, else the only video of that stem. ``None`` when
    there is none; ``ValueError`` naming ``where`` when several videos differ only in suffix."""
    candidates = by_stem.get(video_stem(name), [])
    exact = [p for p in candidates if p.name == name.replace("\\", "/").rsplit("/", 1)[-1]]
    if exact:
        return exact[0]
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise ValueError(f"{where}: {name!r} matches several videos ({names}); give the suffix")
    return candidates[0] if candidates else None


def read_text_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file (a BOM is dropped). A file that is not UTF-8 raises
    ``ValueError`` naming the file and the line of the first bad byte."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex()
        raise ValueError(
            f"{path}:{line}: not UTF-8 text (byte 0x{byte}); save the file as UTF-8"
        ) from None
    return text.splitlines()


def split_lines(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """``(line number, "file:line", whitespace-split fields)`` of each non-blank line of an
    annotation file (:func:`read_text_lines`: UTF-8 or a ``ValueError`` naming the file)."""
    for lineno, line in enumerate(read_text_lines(path), start=1):
        fields = line.split()
        if fields:
            yield lineno, f"{path}:{lineno}", fields


class AnnotationWarnings:
    """Collects one line per suspicious annotation (``file:line: problem``). With
    ``strict=True`` the first one raises ``ValueError`` instead.

    Example:
        >>> w = AnnotationWarnings()
        >>> w.warn("a.txt:3", "unknown class 'Kidnapping'")
        >>> w.lines
        ["a.txt:3: unknown class 'Kidnapping'"]
    """

    def __init__(self, strict: bool = False):
        self.strict = strict
        self.lines: list[str] = []

    def warn(self, where: str, problem: str) -> None:
        line = f"{where}: {problem}"
        if self.strict:
            raise ValueError(f"{line} (an error with --strict)")
        self.lines.append(line)


def canonical_label(
    label: str, known: Sequence[str], where: str, warnings: AnnotationWarnings
) -> str:
    """``label`` checked against the ``known`` class names: a name differing only in case is
    corrected (``normal`` -> ``Normal``: otherwise it would count as an anomalous class) and an
    unknown one is kept; both with a warning."""
    if label in known:
        return label
    for name in known:
        if name.lower() == label.lower():
            warnings.warn(where, f"class {label!r} read as {name!r} (check its case)")
            return name
    warnings.warn(where, f"unknown class {label!r} (known: {', '.join(known)})")
    return label


def limit_balanced(annotations: Sequence[VideoAnnotation], n: int) -> list[VideoAnnotation]:
    """At most ``n`` videos, normal and anomalous in the file's proportion (at least one of each
    when both exist and ``n >= 2``), each kind in file order; the result keeps the file order.

    Example:
        >>> anns = [VideoAnnotation(f"a{i}", Path("x"), "Riot") for i in range(6)]
        >>> anns += [VideoAnnotation(f"n{i}", Path("x"), "Normal") for i in range(3)]
        >>> [a.name for a in limit_balanced(anns, 3)]
        ['a0', 'a1', 'n0']
        >>> [a.name for a in limit_balanced(anns[:6] + anns[-1:], 2)]
        ['a0', 'n2']
    """
    if n < 1:
        raise ValueError(f"limit must be at least 1, got {n}")
    if n >= len(annotations):
        return list(annotations)
    anomalous = [a for a in annotations if a.is_anomalous]
    normal = [a for a in annotations if not a.is_anomalous]
    take_anomalous = int(n * len(anomalous) / len(annotations) + 0.5)  # half rounds up
    if anomalous and normal and n >= 2:
        take_anomalous = min(max(take_anomalous, 1), n - 1)
    take_anomalous = max(take_anomalous, n - len(normal))
    take_anomalous = min(take_anomalous, len(anomalous))
    chosen = {id(a) for a in anomalous[:take_anomalous] + normal[: n - take_anomalous]}
    return [a for a in annotations if id(a) in chosen]


def read_video_list(path: str | Path) -> list[tuple[str, int]]:
    """The video stems of a list file, with their line numbers: one video per line, as a name,
    a path or a feature file (``.../01_0015_i3d.npy`` as in RTFM's lists -> ``01_0015``).
    Blank lines and lines starting with ``#`` are skipped; duplicates raise ``ValueError``."""
    path = check_annotation_file(path)
    stems: list[tuple[str, int]] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(read_text_lines(path), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        stem = video_stem(entry)
        for suffix in (".npy", "_i3d"):  # feature-file names of the published lists
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
        if stem in seen:
            raise ValueError(f"{path}:{lineno}: {stem!r} already listed on line {seen[stem]}")
        seen[stem] = lineno
        stems.append((stem, lineno))
    if not stems:
        raise ValueError(f"{path}: the video list is empty")
    return stems


def select_listed(
    annotations: Sequence[VideoAnnotation], listed: Sequence[tuple[str, int]], list_path: str | Path
) -> list[VideoAnnotation]:
    """The annotations of the listed videos (matched by stem), in list order; a listed video
    without an annotation raises ``ValueError`` naming the list file and line."""
    by_stem = {video_stem(a.name): a for a in annotations}
    result = []
    for stem, lineno in listed:
        if stem not in by_stem:
            raise ValueError(f"{list_path}:{lineno}: {stem!r} has no annotation")
        result.append(by_stem[stem])
    return result

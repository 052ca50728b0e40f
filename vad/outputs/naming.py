"""Inputs and output names: which videos a run gets (``collect_inputs``),
the name each one's outputs take (``output_stems``), and the one-line text the CLI prints for
each scored video (``summary_line``). Nothing here decodes or imports a model."""

from __future__ import annotations

import errno
import hashlib
import logging
import re
from pathlib import Path

from vad.errors import UsageError

log = logging.getLogger("vad")

MAX_STEM = 120  # characters of an output name (before .json / .csv)


def collect_inputs(
    paths: list[str], list_file: str | None, problems: list[str] | None = None
) -> list[Path]:
    """The videos named by ``paths`` (files; folders searched recursively) and the lines of
    ``list_file``, in order, each once.

    A path that cannot be looked at (a name too long, a folder without permission, a link
    loop, folders nested too deep) is appended to ``problems`` as ``PATH: problem`` and left
    out, so the rest of the batch goes on; without ``problems`` such a path is kept and fails
    as that video's own error."""
    from vad.media.files import find_videos, path_problem, safe_resolve
    from vad.yamlio import read_text

    def report(message: str) -> None:
        if problems is None:
            log.warning("%s", message)
        else:
            problems.append(message)

    items: list[Path] = []
    if list_file:
        try:
            lines = read_text(list_file).splitlines()
        except OSError as exc:
            if getattr(exc, "errno", None) == errno.EILSEQ:
                raise UsageError(
                    f"{list_file}: not a text file (a list file is UTF-8 text)"
                ) from exc
            raise UsageError(f"{list_file}: cannot read list file ({exc.strerror})") from exc
        items += [Path(s.strip()) for s in lines if s.strip() and not s.lstrip().startswith("#")]
    for p in paths:
        path = Path(p)
        try:
            is_dir = path.is_dir()
        except (OSError, RuntimeError) as exc:  # a name too long; a loop on Python < 3.12
            if problems is None:
                items.append(path)
            else:
                report(path_problem(path, exc))
            continue
        if is_dir:
            found = find_videos(path, on_error=report)
            if not found:
                log.warning("%s: no video files in this folder", path)
            items += found
        else:
            items.append(path)
    seen, unique = set(), []
    for p in items:
        key = str(safe_resolve(p))
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def safe_name(text: str) -> str:
    """``text`` reduced to characters safe in a file name (never empty, never a dot name)."""
    return re.sub(r"[^A-Za-z0-9._#=+-]+", "_", text).strip("._") or "video"


def output_stems(paths: list[Path]) -> list[str]:
    """Output names: the file stem, made unique (and kept inside --out) when two inputs share
    it, by prefixing the parent folders that tell them apart."""
    from vad.media.files import safe_resolve

    stems = [safe_name(p.stem) for p in paths]
    counts: dict[str, int] = {}
    for s in stems:
        counts[s] = counts.get(s, 0) + 1
    out = []
    used: set[str] = set()
    for p, s in zip(paths, stems, strict=True):
        name = s
        if counts[s] > 1:
            parents = [
                safe_name(x) for x in safe_resolve(p).parent.parts[-2:] if x not in ("/", "")
            ]
            name = "__".join([*parents, s])
        if len(name) > MAX_STEM:  # file systems cap names at 255 bytes
            digest = hashlib.sha1(str(p).encode()).hexdigest()[:8]
            name = f"{name[: MAX_STEM - 9]}_{digest}"
        base, n = name, 2
        while name in used:
            name = f"{base}__{n}"
            n += 1
        used.add(name)
        out.append(name)
    return out


def make_out_dir(out_dir: Path) -> None:
    """Create the output folder up front: a bad --out is a usage error, not N failures."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out_dir}: cannot create the output folder ({exc.strerror})") from exc


def summary_line(result: dict, seconds: float) -> str:
    """One line for a scored video: frames, context, peak score, events, time, warnings."""
    ctx = result["context"]
    where = "none" if ctx["scene"] is None else f"{ctx['scene']} ({ctx['probability']:.2f})"
    peak = max(result["scores"]) if result["scores"] else 0.0
    # what decoding found (a damaged or cut file); the random-weights note is said elsewhere
    notes = [w for w in result.get("warnings", []) if not w.startswith("random model weights")]
    from vad.console import plural

    return (
        f"{result['video']}: {plural(result['num_frames'], 'frame')}, context {where}, "
        f"max score {peak:.3f}, {plural(len(result['events']), 'event')}, {seconds:.1f} s"
        + "".join(f"; warning: {w}" for w in notes)
    )

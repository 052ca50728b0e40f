"""Results to look at, from the JSON ``vad score`` writes: :func:`review_outputs` makes, for the
videos of a run, ``--plot`` (:func:`vad.outputs.plot.plot_result`), ``--overlay``
(:func:`vad.outputs.overlay.write_overlay`) and ``--html``
(:func:`vad.outputs.page.write_index`), reporting each one that fails as an error line instead
of stopping the others."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vad.outputs.overlay import write_overlay
from vad.outputs.page import write_index
from vad.outputs.plot import plot_result


def review_outputs(
    items: Sequence[tuple[Path, str]],
    out_dir: Path,
    plot: bool = False,
    overlay: bool = False,
    index: bool = False,
    threshold: float = 0.5,
    index_items: Sequence[tuple[Path, str]] | None = None,
) -> list[str]:
    """``--plot``, ``--overlay`` for the scored ``(video, stem)`` pairs whose ``<stem>.json``
    is in ``out_dir``, and ``--html`` for ``index_items`` (default: the same; ``vad score
    --resume`` adds the videos scored before); returns error lines (one per failure)."""
    import json

    errors: list[str] = []
    entries = []
    fresh = {stem for _, stem in items}
    for video, stem in index_items if index_items is not None else items:
        json_path = Path(out_dir) / f"{stem}.json"
        if not json_path.is_file():
            continue  # it failed to score: already reported
        try:
            result = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            errors.append(f"{json_path}: cannot read ({exc})")
            continue
        result.setdefault("event_threshold", threshold)
        entries.append({"video": video, "stem": stem, "result": result})
        if stem not in fresh:
            continue
        if plot:
            try:
                plot_result(result, Path(out_dir) / f"{stem}.png")
            except Exception as exc:  # noqa: BLE001 - one figure's problem
                errors.append(f"{video}: cannot draw {stem}.png ({exc})")
        if overlay:
            try:
                write_overlay(video, result, Path(out_dir) / f"{stem}.overlay.mp4")
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{video}: cannot write {stem}.overlay.mp4 ({exc})")
    if index and entries:
        try:
            write_index(out_dir, entries, title=f"vad score: {Path(out_dir).name}")
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{out_dir}/index.html: cannot write ({exc})")
    return errors

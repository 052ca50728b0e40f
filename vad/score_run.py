"""``vad score``, the runner: feed the inputs to an engine and write ``<stem>.json`` /
``<stem>.csv`` for each outcome as it arrives, one summary line per scored video on stdout and
one error line per failed one on stderr. The same for every engine."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from vad.engine import Engine
from vad.naming import summary_line
from vad.outputs import write_result


def score_to_files(
    engine: Engine,
    paths: Sequence[Path],
    stems: Sequence[str],
    out_dir: Path,
) -> list[str | None]:
    """Score ``paths`` with ``engine``, writing each result under ``out_dir`` as ``stems[i]``.
    Returns the error (or None) of each input, in input order; an input the engine never
    reported is an error too."""
    from tqdm import tqdm

    errors: dict[int, str | None] = {}
    bar = tqdm(total=len(paths), desc="scoring", unit="video", disable=None, file=sys.stderr)
    try:  # Ctrl-C / SIGTERM: KeyboardInterrupt passes through; the caller closes the engine
        for out in engine.run(paths):
            bar.update(1)
            bar.set_postfix_str(out.path.name[:40])
            error = out.error
            if error is None:
                stem = stems[out.index]
                try:
                    write_result(out.result, out_dir, stem)
                except OSError as exc:
                    why = exc.strerror or exc
                    error = f"{out.path}: cannot write {out_dir / stem}.json ({why})"
            errors[out.index] = error
            if error is not None:
                tqdm.write(f"vad: error: {error}".replace("\n", " "), file=sys.stderr)
                continue
            tqdm.write(summary_line(out.result, out.seconds), file=sys.stdout)
    finally:
        bar.close()
    return [errors.get(i, f"{p}: not scored") for i, p in enumerate(paths)]

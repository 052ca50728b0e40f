"""``vad score``, the runner: feed the inputs to an engine and write ``<stem>.json`` /
``<stem>.csv`` for each outcome as it arrives, one summary line per scored video on stdout and
one error line per failed one on stderr. The same for every engine."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from vad.engines.protocol import Engine
from vad.outputs.naming import summary_line
from vad.outputs.results import write_result


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

    from vad.console import one_line, say
    from vad.media.sampler import estimate_samples_batch

    # The bar counts sampled frames, so one long video advances it and the ETA means something;
    # each video's expected count is estimated from its container (quickly), corrected when
    # the video is done (a cache hit, a damaged file).
    expected = estimate_samples_batch(paths, getattr(engine, "sample_fps", None))
    bar = tqdm(total=sum(expected), desc="scoring", unit="frame", disable=None, file=sys.stderr,
               dynamic_ncols=True)  # fmt: skip
    done = [0] * len(paths)  # samples counted so far, per input

    def advance(index: int, n: int) -> None:
        n = min(n, max(expected[index] - done[index], 0))
        done[index] += n
        bar.update(n)

    if hasattr(engine, "on_samples"):
        engine.on_samples = advance
    errors: dict[int, str | None] = {}
    try:  # Ctrl-C / SIGTERM: KeyboardInterrupt passes through; the caller closes the engine
        for out in engine.run(paths):
            advance(out.index, expected[out.index])
            bar.set_postfix_str(one_line(out.path.name[:40]))
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
                tqdm.write(one_line(f"vad: error: {error}"), file=sys.stderr)
                continue
            say(summary_line(out.result, out.seconds), write=tqdm.write)
    finally:
        bar.close()
    return [errors.get(i, f"{p}: not scored") for i, p in enumerate(paths)]

"""``--plot``: ``<stem>.png``, the score over time with the events shaded and labelled with
what drove them, the scene context in the title, the wall-clock time along the top when it is
known (:func:`plot_result`; matplotlib is imported inside)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vad.outputs.captions import (
    _clock,
    _context_text,
    _random_weights,
    _threshold,
    _top_label,
    shorten,
)


def plot_result(result: dict, path: str | Path, dpi: int = 100) -> Path:
    """``<stem>.png``: score over time, events shaded and labelled, context in the title."""
    from matplotlib.figure import Figure

    path = Path(path)
    scores = np.asarray(result["scores"], dtype=np.float64)
    fps = float(result["fps"])
    t = np.arange(len(scores)) / fps
    fig = Figure(figsize=(10, 3.2))
    ax = fig.add_subplot()
    for i, ev in enumerate(result.get("events", [])):
        ax.axvspan(ev["start_s"], ev["end_s"], color="tab:red", alpha=0.18, lw=0)
        y = (1.03, 0.96, 0.89)[i % 3]  # neighbouring labels at different heights
        label = shorten(_top_label(ev), 40)
        ax.text(ev["start_s"], y, label, fontsize=8, color="darkred", va="bottom")
    ax.plot(t, scores, color="tab:blue", lw=1.2, label="anomaly score")
    ax.axhline(_threshold(result), color="grey", ls="--", lw=0.8, label="event threshold")
    ax.set_xlim(0, max(t[-1] if len(t) else 1.0, 1e-3))
    ax.set_ylim(0, 1.12)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("score")
    title = f"{Path(result['video']).name} - {_context_text(result)}"
    clock = _clock(result)
    if clock is not None:  # wall-clock time along the top, the seconds below
        from matplotlib.ticker import FuncFormatter

        top = ax.secondary_xaxis("top")
        top.xaxis.set_major_formatter(FuncFormatter(lambda x, _: clock.readable(x, False)))
        top.tick_params(labelsize=7)
        title += f" - started {clock.readable(0.0)}"
    if _random_weights(result):
        title += " - RANDOM WEIGHTS: meaningless scores"
    ax.set_title(title, fontsize=10, pad=16 if clock is not None else 6)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path

"""What drove an event: the parts each sample's score is made of, and the explanation an event
records at its peak.

A sample's score is built from parts, each a plain ``(N,)`` array over the video's samples
(:class:`ScoreComponents`; ``None`` where the run's recipe has no such part):

``semantic``
    the scoring head's anomaly probability: what the prompt bank says about the frame, with the
    scene context, the video's normal anchor and refinement as the recipe applies them.
``anchor_free``
    the same probability without the video's normal anchor (the anchor's effect is
    ``semantic - anchor_free``).
``motion_gate``
    the motion gate's factor in [0, 1]; it multiplies the semantic probability.
``novelty``
    ``n(x)`` in [0, 1], how unlike the camera's normal footage the frame is (``--calibration``);
    it joins as ``1 - (1 - s) * (1 - weight * n)`` (:mod:`vad.scoring.calibration`).

An event's *driver* (:func:`explain_peak`) is the part without which its peak would not have
reached the threshold: the peak is computed again with that part taken out (novelty 0, gate 1,
the anchor-free probability), smoothed as the score is. Of the parts the event needed, the one that
added most drives it; when the prompt bank's probability reaches the threshold on its own, the
driver is ``semantic``. A description is shown as having fired only when the score without novelty
reached the threshold: a novelty-driven event says it is unlike the camera's normal footage and
lists the nearest descriptions apart, as ones that did not fire.

>>> parts = ScoreComponents(semantic=np.array([0.2, 0.3]), novelty=np.array([0.0, 1.0]),
...                         novelty_weight=0.5)
>>> parts.score().round(2).tolist()           # 1 - (1 - s) * (1 - 0.5 n)
[0.2, 0.65]
>>> parts.score(without=("novelty",)).round(2).tolist()
[0.2, 0.3]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

DRIVERS = ("semantic", "novelty", "anchor", "motion")
PARTS = ("novelty", "anchor", "motion")  # what can be taken out of a score


@dataclass
class ScoreComponents:
    """The parts of each sample's score (see the module docstring); plain ``(N,)`` arrays."""

    semantic: np.ndarray
    anchor_free: np.ndarray | None = None
    motion_gate: np.ndarray | None = None
    novelty: np.ndarray | None = None
    novelty_weight: float = 0.0

    def __post_init__(self):
        self.semantic = np.asarray(self.semantic, dtype=np.float64)
        n = len(self.semantic)
        for name in ("anchor_free", "motion_gate", "novelty"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float64)
                if value.shape != (n,):
                    raise ValueError(f"{name} has shape {value.shape}, expected ({n},)")
                setattr(self, name, value)

    def has(self, part: str) -> bool:
        """Whether the recipe has ``part`` (novelty, anchor, motion)."""
        field = {"novelty": "novelty", "anchor": "anchor_free", "motion": "motion_gate"}[part]
        return getattr(self, field) is not None

    def score(self, without: Sequence[str] = ()) -> np.ndarray:
        """The per-sample score from the parts, leaving out those named in ``without``."""
        unknown = set(without) - set(PARTS)
        if unknown:
            raise ValueError(f"unknown score parts {sorted(unknown)}; choose from {PARTS}")
        use_anchor = "anchor" not in without or self.anchor_free is None
        s = self.semantic if use_anchor else self.anchor_free
        if self.motion_gate is not None and "motion" not in without:
            s = s * self.motion_gate
        if self.novelty is not None and "novelty" not in without:
            s = 1.0 - (1.0 - s) * (1.0 - self.novelty_weight * self.novelty)
        return s


def explain_peak(
    parts: ScoreComponents,
    times: np.ndarray,
    peak_s: float,
    peak_score: float,
    threshold: float,
    smooth: Callable[[np.ndarray], np.ndarray],
) -> dict:
    """What made an event's peak: the parts at ``peak_s`` (smoothed with ``smooth`` as the score
    is, read at the peak time), the peak computed again without each part, and the driver.

    ``peak_score`` is the event's peak as reported; the peak without a part is that score moved
    by the part's effect, so a difference between this re-computation and the detector's own
    smoothing (a margin head smooths before its sigmoid) does not shift the comparison.
    """
    times = np.asarray(times, dtype=np.float64)

    def at_peak(values: np.ndarray) -> float:
        return float(np.interp(peak_s, times, smooth(np.asarray(values, np.float64))))

    full = at_peak(parts.score())
    without = {}
    for part in PARTS:
        if parts.has(part):
            effect = full - at_peak(parts.score(without=(part,)))
            without[part] = round(float(np.clip(peak_score - effect, 0.0, 1.0)), 4)
    needed = {p: peak_score - v for p, v in without.items() if v < threshold and peak_score > v}
    driver = max(needed, key=needed.get) if needed else "semantic"
    components = {
        "score": round(float(peak_score), 4),
        "semantic": round(at_peak(parts.semantic), 4),
        "novelty": None if parts.novelty is None else round(at_peak(parts.novelty), 4),
        "anchor": None
        if parts.anchor_free is None
        else round(at_peak(parts.semantic - parts.anchor_free), 4),
        "motion_gate": None if parts.motion_gate is None else round(at_peak(parts.motion_gate), 4),
    }
    # descriptions fired when the score reached the threshold without the camera's novelty
    fired = without.get("novelty", peak_score) >= threshold
    return {"driver": driver, "components": components, "without": without, "fired": fired}


def explanation_text(explanation: dict, descriptions: Sequence[dict]) -> str:
    """The one line an event is labelled with: what drove it, with the number behind it.

    >>> explanation_text({"driver": "novelty", "components": {"novelty": 0.93}}, [])
    "unlike this camera's normal footage (novelty 0.93)"
    >>> explanation_text({"driver": "semantic", "components": {}},
    ...                  [{"text": "a person fighting", "similarity": 0.312}])
    'a person fighting (0.31)'
    """
    driver = explanation["driver"]
    parts = explanation["components"]
    top = descriptions[0] if descriptions else None
    said = f"{top['text']} ({top['similarity']:.2f})" if top else ""
    if driver == "novelty":
        return f"unlike this camera's normal footage (novelty {parts['novelty']:.2f})"
    if driver == "anchor":
        why = f"unlike the rest of this video (anchor {parts['anchor']:+.2f})"
    elif driver == "motion":
        why = f"motion (gate {parts['motion_gate']:.2f})"
    else:
        return said or "anomalous"
    return f"{why}: {said}" if said else why


def describe_event(event: dict, explanation: dict) -> dict:
    """``event`` with its explanation: ``label`` (the one line), ``explanation`` (driver, the
    parts at the peak, the peak without each part); its descriptions stay under
    ``descriptions`` only when they fired, else they move to ``nearest_descriptions``."""
    descriptions = event.get("descriptions", [])
    fired = explanation.pop("fired")
    if not fired:
        event["nearest_descriptions"] = descriptions
        event["descriptions"] = []
    event["label"] = explanation_text(explanation, descriptions if fired else [])
    event["explanation"] = explanation
    return event

"""Ground-truth conventions ("protocols") of the papers `vad eval` is compared with.

The annotation files give frame numbers; papers differ in how they turn them into a per-frame
0/1 vector and in which frames they score. A :class:`Protocol` captures those choices:

- whether annotation frame numbers are 0- or 1-based,
- whether an interval's end frame is anomalous (inclusive) or not (``gt[start:end]``),
- how many frames are dropped at the end of the decoded video before scoring,
- whether the kept frames are cut to whole snippets of ``snippet`` frames (feature-based methods
  score one value per 16-frame snippet and drop the incomplete tail),
- how a frame mask shorter than the video is padded (ShanghaiTech).

Every protocol works on the *decoded* frames: labels are built at the decoded length, then the
first :meth:`Protocol.kept_frames` frames of labels and scores are evaluated.

Example (a 40-frame video annotated ``3 5`` in a UCF-style file):

>>> [PROTOCOLS[p].to_half_open(3, 5) for p in ("vad", "sultani", "vadclip", "xdviodet")]
[(3, 6), (2, 5), (3, 5), (3, 5)]
>>> [PROTOCOLS[p].kept_frames(40) for p in ("vad", "sultani", "vadclip", "xdviodet")]
[40, 40, 32, 32]
>>> PROTOCOLS["xdviodet"].kept_frames(33), PROTOCOLS["vadclip"].kept_frames(33)
(32, 32)
>>> PROTOCOLS["xdviodet"].kept_frames(32), PROTOCOLS["vadclip"].kept_frames(32)
(16, 32)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

MASK_PADS = ("last", "zero")
"""How a frame mask shorter than the video is extended: repeat its last label, or zeros."""


@dataclass(frozen=True)
class Protocol:
    """One ground-truth convention; see the module docstring and docs/evaluation.md."""

    name: str
    one_based: bool = False
    end_inclusive: bool = True
    drop_last: int = 0
    snippet: int = 1
    mask_pad: str = "last"
    source: str = ""

    def __post_init__(self) -> None:
        if self.mask_pad not in MASK_PADS:
            known = ", ".join(MASK_PADS)
            raise ValueError(f"mask padding must be one of {known}, got {self.mask_pad!r}")
        if self.snippet < 1 or self.drop_last < 0:
            raise ValueError(f"protocol {self.name!r}: snippet >= 1 and drop_last >= 0 required")

    def to_half_open(self, start: int, end: int) -> tuple[int, int]:
        """The annotated interval ``(start, end)`` as 0-based decoded frames ``[a, b)``.

        >>> PROTOCOLS["sultani"].to_half_open(1, 1)
        (0, 1)
        >>> PROTOCOLS["sultani"].to_half_open(0, 4)  # a 0 in a 1-based file counts as frame 1
        (0, 4)
        """
        shift = 1 if self.one_based else 0
        a = start - shift
        b = end + (1 if self.end_inclusive else 0) - shift
        return max(a, 0), max(b, 0)

    def kept_frames(self, num_decoded_frames: int) -> int:
        """How many leading decoded frames are evaluated."""
        kept = max(int(num_decoded_frames) - self.drop_last, 0)
        return kept // self.snippet * self.snippet

    def with_mask_pad(self, mask_pad: str) -> Protocol:
        """The same protocol with another mask padding."""
        return dataclasses.replace(self, mask_pad=mask_pad)

    def describe(self) -> dict:
        """JSON-ready record of every choice (``metrics.json``'s ``protocol``)."""
        return {
            "name": self.name,
            "frame_numbers": "1-based" if self.one_based else "0-based",
            "interval_end": "inclusive" if self.end_inclusive else "exclusive",
            "drop_last_frames": self.drop_last,
            "snippet_frames": self.snippet,
            "mask_pad": self.mask_pad,
            "source": self.source,
        }


PROTOCOLS: dict[str, Protocol] = {
    "vad": Protocol("vad", source="vad: every decoded frame, 0-based, inclusive end"),
    "sultani": Protocol(
        "sultani",
        one_based=True,
        source="Sultani et al. CVPR 2018, Evaluate_Anomaly_Detector.m: GT(st:end)=1, 1-based",
    ),
    "vadclip": Protocol(
        "vadclip",
        end_inclusive=False,
        snippet=16,
        source="VadCLIP list/make_gt_ucf.py: gt[s:e]=1, whole 16-frame snippets",
    ),
    "xdviodet": Protocol(
        "xdviodet",
        end_inclusive=False,
        drop_last=1,
        snippet=16,
        source="XDVioDet list/make_gt.py: gt[s:e]=1, last frame dropped, then (n-1) mod 16",
    ),
}
"""``--protocol`` name -> :class:`Protocol`."""

VAD = PROTOCOLS["vad"]
"""The default protocol."""


def get_protocol(name: str, mask_pad: str = "last") -> Protocol:
    """The protocol called ``name`` with the given mask padding; ``ValueError`` lists the known
    names for an unknown one."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name].with_mask_pad(mask_pad)

"""``--overlay``: ``<stem>.overlay.mp4``, the video with a score bar and the current event's
label drawn on every frame (and the wall-clock time, when known), at the input's frame count
and rate (:func:`write_overlay`; OpenCV is imported inside)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from vad.outputs.captions import _clock, _event_at, _threshold, _top_label, seconds_text


def _draw(
    img: np.ndarray, score: float, label: str | None, threshold: float, clock: str | None = None
) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    bar_h = max(8, h // 24)
    img[h - bar_h :, :] = (img[h - bar_h :, :] * 0.35).astype(np.uint8)
    filled = int(round(np.clip(score, 0, 1) * w))
    color = (220, 40, 40) if score >= threshold else (40, 160, 230)  # RGB
    img[h - bar_h :, :filled] = color
    x = int(round(threshold * (w - 1)))
    img[h - bar_h :, x : x + 1] = (255, 255, 255)
    scale = max(0.4, h / 720)
    thick = max(1, int(round(scale * 2)))
    text = f"score {score:.2f}" + (f"  {label}" if label else "")
    org = (8, h - bar_h - 8)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(
        img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA
    )
    if clock:  # the wall-clock time, top left, as a camera's own overlay shows it
        top = (8, 8 + int(round(22 * scale)))
        for color, t in (((0, 0, 0), thick + 2), ((255, 255, 255), thick)):
            cv2.putText(img, clock, top, cv2.FONT_HERSHEY_SIMPLEX, scale, color, t, cv2.LINE_AA)
    return img


def _encoder_name() -> str:
    import av

    for name in ("libx264", "mpeg4"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # noqa: BLE001 - not built into this FFmpeg
            continue
    raise RuntimeError("no MP4 video encoder (libx264 or mpeg4) in this FFmpeg build")


def write_overlay(video: str | Path, result: dict, path: str | Path) -> Path:
    """``<stem>.overlay.mp4``: every decoded frame of ``video`` with the score bar and the event
    label; one output frame per input frame, at the input's rate."""
    import av

    path = Path(path)
    scores = np.asarray(result["scores"], dtype=np.float64)
    events = result.get("events", [])
    threshold = _threshold(result)
    clock = _clock(result)
    times = result.get("frame_times")  # a variable frame rate's timestamps
    fps = Fraction(float(result["fps"])).limit_denominator(1001)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    try:
        with av.open(str(video)) as src, av.open(str(tmp), "w") as out:
            vin = src.streams.video[0]
            rate = vin.average_rate or vin.guessed_rate or fps
            vout = None
            for i, frame in enumerate(src.decode(vin)):
                img = frame.to_ndarray(format="rgb24")
                if vout is None:
                    vout = out.add_stream(_encoder_name(), rate=rate)
                    vout.width = img.shape[1] // 2 * 2
                    vout.height = img.shape[0] // 2 * 2
                    vout.pix_fmt = "yuv420p"
                    vout.codec_context.time_base = 1 / Fraction(rate)
                    if vout.name == "libx264":
                        vout.options = {"crf": "23", "preset": "veryfast"}
                score = scores[min(i, len(scores) - 1)] if len(scores) else 0.0
                ev = _event_at(events, i)
                t = times[i] if times is not None and i < len(times) else i / float(fps)
                img = _draw(
                    np.ascontiguousarray(img[: vout.height, : vout.width]),
                    score,
                    _top_label(ev) if ev else None,
                    threshold,
                    None if clock is None else f"{clock.readable(t)}  ({seconds_text(t)})",
                )
                new = av.VideoFrame.from_ndarray(img, format="rgb24")
                new.pts = i
                new.time_base = vout.codec_context.time_base
                for packet in vout.encode(new):
                    out.mux(packet)
            if vout is not None:
                for packet in vout.encode():
                    out.mux(packet)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path

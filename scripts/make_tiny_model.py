"""Write a tiny random OpenCLIP model folder for trying the pipeline without weights.

    python scripts/make_tiny_model.py /tmp/tiny
    vad score video.mp4 --model local-dir:/tmp/tiny --out out

Scores from it are meaningless; everything around the model is the real pipeline.
"""

from __future__ import annotations

import argparse

from vad.testing import make_tiny_model_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="where to write open_clip_config.json and the weights")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    folder = make_tiny_model_dir(args.folder, seed=args.seed)
    print(f"wrote a tiny random model to {folder}; use --model local-dir:{folder}")


if __name__ == "__main__":
    main()

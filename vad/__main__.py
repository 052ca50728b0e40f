"""``python -m vad``: the command line (:mod:`vad.cli`)."""

import sys

from vad.cli import main

if __name__ == "__main__":  # not when a spawned worker process re-imports this module
    sys.exit(main())

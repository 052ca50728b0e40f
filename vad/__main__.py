"""``python -m vad``: the command line (:mod:`vad.cli`)."""

import signal
import sys


def _exit_quietly(signum, frame):
    # a signal before vad.cli.main has installed its own handlers (while vad.cli imports):
    # the same exit status as later (130 for Ctrl-C, 143 for SIGTERM), no traceback
    how = "terminated" if signum == signal.SIGTERM else "interrupted"
    print(f"vad: {how}; finished outputs are complete, nothing partial was left", file=sys.stderr)
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    for _sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(_sig) is not signal.SIG_IGN:
            signal.signal(_sig, _exit_quietly)
    from vad.cli import main

    sys.exit(main())

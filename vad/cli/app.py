"""Command line: ``vad score``, ``eval``, ``watch``, ``calibrate``, ``search``, ``prompts``,
``models``. It parses options, builds the detector and chooses the engine (:mod:`vad.engines`,
:mod:`vad.engines.ray`), then hands over to the runners (:mod:`vad.outputs.runner`,
:mod:`vad.evaluation.runner`, :mod:`vad.scoring.search`); nothing imports it.

Exit status: 0 when every input was scored, 1 when any input failed (each named once on
stderr), 2 for usage errors (bad option, bad config or prompt bank, missing weights)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from vad import __version__, console
from vad.cli.calibrate import add_calibrate_parser
from vad.cli.eval import add_eval_parser
from vad.cli.models import add_models_parser
from vad.cli.options import check_flags
from vad.cli.prompts import add_prompts_parser
from vad.cli.score import add_score_parser
from vad.cli.search import add_search_parser
from vad.cli.watch import add_watch_parser
from vad.console import one_line
from vad.errors import UsageError

log = logging.getLogger("vad")


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that cleanup runs as for Ctrl-C."""


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (``vad: error: ...``), as every other one; an
    unknown option is reported by the subcommand it was given to (``see `vad score --help```),
    with the option it most looks like."""

    def error(self, message: str):
        self.exit(2, one_line(f"vad: error: {message} (see `{self.prog} --help`)") + "\n")

    def parse_args(self, args=None, namespace=None):
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = self._subcommand(parsed) or self
            parser.error(f"unrecognized arguments: {' '.join(extras)}{parser._guess(extras)}")
        return parsed

    def _subcommand(self, parsed) -> argparse.ArgumentParser | None:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices.get(getattr(parsed, action.dest, None) or "")
        return None

    def _guess(self, extras: list[str]) -> str:
        """`` (did you mean --x?)`` for the first unknown option close to a known one."""
        import difflib

        known = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
        for word in extras:
            if word.startswith("--"):
                close = difflib.get_close_matches(word.split("=", 1)[0], known, n=1, cutoff=0.6)
                if close:
                    return f" (did you mean {close[0]}?)"
        return ""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="vad", description="Context-aware zero-shot video anomaly detection (OpenCLIP)."
    )
    parser.add_argument("--version", action="version", version=f"vad {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    add_score_parser(sub)
    add_eval_parser(sub)
    add_watch_parser(sub)
    add_calibrate_parser(sub)
    add_search_parser(sub)
    add_prompts_parser(sub)
    add_models_parser(sub)
    return parser


def setup_logging(verbose: bool) -> None:
    """vad's own messages as ``vad: ...`` lines on stderr; other libraries only on errors
    (or everything with --verbose)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("vad: %(message)s"))
    vad_log = logging.getLogger("vad")
    vad_log.handlers[:] = [handler]
    vad_log.setLevel(logging.DEBUG if verbose else logging.INFO)
    vad_log.propagate = False
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR)


def install_signal_handlers():
    """SIGTERM unwinds like Ctrl-C (temporary files removed, the decode worker stopped), from
    the first moment of ``main``: a signal while torch is still importing is an exit 130/143
    too, not a traceback. Returns a function that puts the previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_terminated),
        # Python's own Ctrl-C handler, unless the shell made this process ignore it (`nohup`)
        signal.SIGINT: signal.getsignal(signal.SIGINT),
    }
    if previous[signal.SIGINT] is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def restore() -> None:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)

    return restore


def usage_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix (exit status 2). Looked up among the modules already
    imported, so that `vad --help` imports nothing more to name one."""
    from vad.errors import WeightsUnavailable

    classes: list[type[BaseException]] = [UsageError, ValueError, WeightsUnavailable]
    for module, name in (
        ("vad.config", "ConfigError"),
        ("vad.model.prompts", "PromptBankError"),
    ):
        if module in sys.modules:
            classes.append(getattr(sys.modules[module], name))
    return tuple(classes)


def main(argv: list[str] | None = None) -> int:
    restore = install_signal_handlers()  # first, before anything slow
    console.reset()  # each run has its own stdout state (main may run twice in one process)
    try:
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            setup_logging(args.verbose)
            check_flags(args)
            return args.func(args)
        except Exception as exc:
            if not isinstance(exc, usage_errors()) or isinstance(exc, BrokenPipeError):
                raise
            # an error that also advises the Python API says it in flags here
            print(one_line(f"vad: error: {getattr(exc, 'cli_message', None) or exc}"),
                  file=sys.stderr)  # fmt: skip
            return 2
    except KeyboardInterrupt as exc:
        how = "terminated" if isinstance(exc, Terminated) else "interrupted"
        try:
            print(
                f"vad: {how}; finished outputs are complete, nothing partial was left",
                file=sys.stderr,
            )
        except (OSError, ValueError):
            pass
        return 143 if isinstance(exc, Terminated) else 130
    except BrokenPipeError:  # stdout closed while printing a command's output: not a failure
        _silence_stdout()
        return 0
    finally:
        restore()


def _silence_stdout() -> None:
    from vad.console import _silence_stdout as silence

    silence()


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


if __name__ == "__main__":
    sys.exit(main())

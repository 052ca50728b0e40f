"""Reading the user's text and YAML files (configs, prompt banks, list files) safely.
(Annotation files have their own reader, which names the line too: vad.evaluation.datasets.base.)

- :func:`read_text` names the file when it is not UTF-8 text (Python's own error does not).
- :func:`safe_load` refuses, before building any object, YAML that would expand into a huge
  document through aliases ("billion laughs": a few hundred bytes that PyYAML turns into a
  structure whose error message alone is hundreds of megabytes) or that nests deeper than any
  real config (PyYAML's composer recurses: thousands of levels end in a RecursionError). The
  check walks the parser's event stream (no recursion, no objects) and counts every node as
  often as aliases would repeat it, so it runs in a fraction of a second and bounded memory.

Refusals are :class:`YamlRefused`, a :class:`yaml.YAMLError`, so callers that already turn
``YAMLError`` into "FILE: invalid YAML (problem)" report them the same way.
"""

from __future__ import annotations

import errno
from pathlib import Path

import yaml

MAX_DEPTH = 64  # nesting levels; real configs and banks use fewer than 6
MAX_NODES = 200_000  # nodes after alias expansion; the default bank has about 1,500
MAX_BYTES = 8 << 20  # a config or bank larger than this is not one


class YamlRefused(yaml.YAMLError):
    """A document refused before it is built; ``problem`` says why (short)."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = None


class NotTextError(OSError):
    """A file that is not UTF-8 text. An :class:`OSError` (errno EILSEQ), so code that reports
    "FILE: cannot read it (strerror)" names the file and the byte."""

    def __init__(self, path: str | Path, exc: UnicodeDecodeError):
        problem = f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        super().__init__(errno.EILSEQ, problem, str(path))

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def read_text(path: str | Path) -> str:
    """The file's text (UTF-8, a leading BOM dropped). Raises :class:`OSError`; a file that is
    not UTF-8 raises :class:`NotTextError` naming the file and the first bad byte."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotTextError(path, exc) from None


def check_document(text: str) -> None:
    """Raise :class:`YamlRefused` when ``text`` nests deeper than :data:`MAX_DEPTH` or expands
    to more than :data:`MAX_NODES` nodes through aliases. Syntax errors are left to the loader
    (which reports them with a line and column)."""
    if len(text) > MAX_BYTES:
        raise YamlRefused(f"file too large for a config or prompt bank ({len(text)} characters)")
    sizes: dict[str, int] = {}  # anchor -> expanded node count
    stack: list[list] = []  # open collections: [anchor, expanded node count so far]
    total = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise YamlRefused(f"nested deeper than {MAX_DEPTH} levels")
                stack.append([event.anchor, 1])
                total += 1
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                anchor, size = stack.pop()
            elif isinstance(event, yaml.ScalarEvent):
                anchor, size = event.anchor, 1
                total += 1
            elif isinstance(event, yaml.AliasEvent):
                anchor, size = None, sizes.get(event.anchor, 1)
                total += size
            else:
                continue
            if total > MAX_NODES:
                raise YamlRefused(
                    f"expands to more than {MAX_NODES:,} values through aliases (an alias bomb?)"
                )
            if anchor is not None:
                sizes[anchor] = size
            if stack:
                stack[-1][1] += size
    except yaml.YAMLError as exc:
        if isinstance(exc, YamlRefused):
            raise
        return  # a syntax error: the loader reports it with its position


def safe_load(text: str):
    """``yaml.safe_load`` after :func:`check_document`."""
    check_document(text)
    return yaml.load(text, Loader=_Loader)


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

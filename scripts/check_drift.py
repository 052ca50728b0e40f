"""Which installed packages differ from the last set known to pass the test suite.

``pip install -e ".[test]"`` installs today's releases, so a dependency's new release can break
``vad`` (or only its tests) overnight. CI installs today's releases on purpose, so that it is
CI, not a user, that meets a new release first; this script then says which packages moved
since ``constraints/known-good.txt`` (``pip freeze`` of the last green run), so a red run reads
as "PyYAML 6.0.3 -> 6.0.4" before anyone reads a traceback. To get back to the known-good set:
``pip install -c constraints/known-good.txt -e ".[test]"``.

    python scripts/check_drift.py [--constraints FILE] [--strict]

Prints one line per package whose installed version differs (or that is missing) and exits 0;
with ``--strict`` it exits 1 when anything differs. A malformed constraints file is one line
naming the file and the line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

DEFAULT = Path(__file__).resolve().parent.parent / "constraints" / "known-good.txt"


def read_pins(path: Path) -> dict[str, str]:
    """``{canonical name: version}`` of a ``pip freeze`` file (``name==version`` lines;
    comments, blank lines and options are skipped). Raises ``ValueError`` naming the line."""
    pins = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            raise ValueError(f"{path}:{number}: not a requirement ({exc})") from None
        pinned = [s.version for s in req.specifier if s.operator == "=="]
        if len(pinned) != 1:
            raise ValueError(f"{path}:{number}: {req.name} is not pinned with ==")
        pins[canonicalize_name(req.name)] = pinned[0]
    return pins


def installed() -> dict[str, str]:
    """``{canonical name: version}`` of the distributions this interpreter sees."""
    out = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out.setdefault(canonicalize_name(name), dist.version)
    return out


def drift(pins: dict[str, str], have: dict[str, str]) -> list[str]:
    """One line per pinned package whose installed version differs or that is missing.

    >>> drift({"pyyaml": "6.0.3", "numpy": "2.4.6"}, {"pyyaml": "6.0.4", "numpy": "2.4.6"})
    ['pyyaml 6.0.3 -> 6.0.4']
    >>> drift({"ray": "2.60.0"}, {})
    ['ray 2.60.0 -> not installed']
    """
    lines = []
    for name, version in sorted(pins.items()):
        now = have.get(name)
        if now != version:
            lines.append(f"{name} {version} -> {now or 'not installed'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--constraints", type=Path, default=DEFAULT)
    parser.add_argument("--strict", action="store_true", help="exit 1 when anything differs")
    args = parser.parse_args(argv)
    try:
        pins = read_pins(args.constraints)
    except OSError as exc:
        print(f"check_drift: {args.constraints}: cannot read it ({exc.strerror})", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"check_drift: {exc}", file=sys.stderr)
        return 2
    lines = drift(pins, installed())
    if not lines:
        print(f"dependencies: as in {args.constraints.name} ({len(pins)} pinned)")
        return 0
    print(f"dependencies: {len(lines)} differ from {args.constraints.name} (known good):")
    for line in lines:
        print(f"  {line}")
    return 1 if args.strict else 0


if __name__ == "__main__":
    sys.exit(main())

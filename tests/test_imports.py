"""The package's imports go one way: no module imports, even inside a function, a module that
(directly or through others) imports it back; each folder imports only folders below it in
:data:`LAYERS` (docs/architecture.md); and nothing but ``python -m vad`` imports the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import vad

PACKAGE = Path(vad.__file__).resolve().parent

# The import order, declared once: a module may import modules of its own folder and of the
# levels before its own, never a later level nor another unit of its own level. The shared
# top-level modules (level 0) may import each other. A new folder or top-level module must be
# placed here.
LAYERS: list[list[str]] = [
    # small shared pieces
    ["vad", "vad.errors", "vad.console", "vad.yamlio", "vad.files", "vad.cache", "vad.clock",
     "vad.devices", "vad.testing", "vad.shipped"],
    ["vad.media"],
    ["vad.model"],
    ["vad.scoring"],
    ["vad.pipeline", "vad.config"],  # the Detector and its presets
    ["vad.engines"],
    ["vad.outputs"],
    ["vad.evaluation", "vad.live"],
    ["vad.cli"],
    ["vad.__main__", "vad.worker"],  # the programs' command lines
]  # fmt: skip


def unit_of(module: str) -> tuple[int, str]:
    """``(level, unit)``: the entry of :data:`LAYERS` that holds ``module`` (the longest one
    that is the module or a package above it)."""
    found = [
        (len(unit), level, unit)
        for level, units in enumerate(LAYERS)
        for unit in units
        if module == unit or (unit != "vad" and module.startswith(unit + "."))
    ]
    if not found:
        raise KeyError(f"{module} is in no level of LAYERS")
    _, level, unit = max(found)
    return level, unit


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """``a -> b`` for every import that goes up the order or sideways between units."""
    bad = []
    for module, targets in sorted(graph.items()):
        level, unit = unit_of(module)
        for target in sorted(targets):
            t_level, t_unit = unit_of(target)
            if t_unit == unit or t_level < level or (t_level == level == 0):
                continue
            bad.append(f"{module} -> {target}")
    return bad


def module_names(root: Path, package: str) -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` file below ``root``."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its body (module level, in
    functions, under ``if TYPE_CHECKING`` too)."""
    modules = module_names(root, package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package holding this module
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    here = here[: len(here) - (node.level - 1)]
                    base = ".".join([*here, base] if base else here)
                # `from pkg import sub` imports the submodule; `from mod import name` the module
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_vad_has_no_import_cycles():
    graph = import_graph(PACKAGE, "vad")
    assert "vad.cli" in graph and "vad.engines.ray.run" in graph  # the walk found the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_each_folder_imports_only_folders_below_it():
    graph = import_graph(PACKAGE, "vad")
    for module in graph:  # every module has its place in the order
        unit_of(module)
    assert layer_violations(graph) == []


def test_the_layer_check_finds_an_upward_import():
    graph = {"vad.media.sampler": {"vad.scoring.heads"}, "vad.scoring.heads": {"vad.media"}}
    assert layer_violations(graph) == ["vad.media.sampler -> vad.scoring.heads"]
    sideways = {"vad.live.watch": {"vad.evaluation.metrics"}, "vad.cache": {"vad.errors"}}
    assert layer_violations(sideways) == ["vad.live.watch -> vad.evaluation.metrics"]


def test_nothing_imports_the_cli():
    graph = import_graph(PACKAGE, "vad")
    importers = sorted(
        m
        for m, targets in graph.items()
        if not (m == "vad.cli" or m.startswith("vad.cli."))
        and any(t == "vad.cli" or t.startswith("vad.cli.") for t in targets)
    )
    assert importers == ["vad.__main__"]


def test_the_walk_finds_a_cycle_hidden_in_a_function(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import c\n")
    (pkg / "c.py").write_text("import os\n\ndef g():\n    from pkg.a import x\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.c"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
    (pkg / "c.py").write_text("import os\n")
    assert find_cycle(import_graph(pkg, "pkg")) is None

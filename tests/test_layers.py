"""The package's layers: components below, commands and methods above, and nothing reaching up.

Components (errors, config, cache, stats, graders, models, the model interface, tasks, the
reward model, the judge, scoring, training, plots, engines) never import a command, a method
(`w2s.wst`, `w2s.reason`), the proxy or the CLI, not even inside a function; and no module
imports another that imports it back, at import time or inside a function.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
LAZY = re.compile(r"w2s(\.\w+)+:\w+")
UPPER = ("w2s.cli", "w2s.api", "w2s.commands", "w2s.wst", "w2s.reason", "w2s.serve")


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "w2s").rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def walk(node: ast.AST, into_functions: bool):
    """Every node under `node`, except type-checking-only imports (and functions, if asked)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
            continue
        if not into_functions and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        yield child
        yield from walk(child, into_functions)


def imports(path: Path, top_level_only: bool) -> set[str]:
    nodes = walk(ast.parse(path.read_text(encoding="utf-8")), into_functions=not top_level_only)
    names = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("w2s"):
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("w2s"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and LAZY.fullmatch(node.value):
            names.add(node.value.split(":")[0])  # a lazy registry entry imports its module when used
    return names


def is_upper(name: str) -> bool:
    return any(name == u or name.startswith(u + ".") for u in UPPER)


def test_no_component_imports_a_command_or_a_method():
    reaching_up = {name: sorted(i for i in imports(path, top_level_only=False) if is_upper(i))
                   for name, path in modules().items() if not is_upper(name) and name != "w2s"}
    assert {k: v for k, v in reaching_up.items() if v} == {}


def test_nothing_imports_the_cli_and_there_is_no_import_cycle():
    mods = modules()
    graph = {name: {i for i in imports(path, top_level_only=False) if i in mods and i != name}
             for name, path in mods.items()}
    assert not any("w2s.cli" in targets for name, targets in graph.items() if name != "w2s.__main__")

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and (seen.add(nxt) or reaches(nxt, goal, seen))):
                return True
        return False

    assert [name for name in mods if reaches(name, name, set())] == []


def test_no_function_is_longer_than_a_screen():
    """A function is read at once: no more than 60 lines (split it where a part has a name)."""
    long = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 60:
                long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not long

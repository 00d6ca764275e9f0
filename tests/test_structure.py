"""The codebase's shape, checked so it cannot drift silently: no import loops in bot/ and index/,
a storage layer without llama-index, and docs/architecture.md naming every module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def _loops(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), as sorted names."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module) & modules:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return groups


def test_no_import_loops_between_modules():
    """A loop ties modules so that neither can change or be read alone (TYPE_CHECKING imports
    count: they tie the types). A package's __init__ re-exporting its modules is not a loop."""
    sys.setrecursionlimit(10_000)
    graph = grimp.build_graph("bot", "index", include_external_packages=False)
    modules = {m for m in graph.modules if m.split(".")[0] in ("bot", "index")}
    packages = {m for m in modules if (ROOT / m.replace(".", "/") / "__init__.py").exists()}
    assert _loops(graph, modules - packages) == []


def test_the_storage_layer_imports_no_llama_index():
    """Every CLI command and every test that opens an index paid ~4 s of CPU to import llama-index."""
    code = (
        "import sys, index.store, index.ingest, index.embedders\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('llama_index')}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


def test_architecture_names_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [
        str(path.relative_to(ROOT))
        for package in ("bot", "index")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "__init__.py" and str(path.relative_to(ROOT)) not in text and path.stem not in text
    ]
    assert missing == []


def test_every_module_of_bot_is_core_or_front_end():
    """The layer contracts name modules; a new module must land on one side of the line, or the
    contract "the core knows no front end" would not guard it (pyproject.toml)."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"][
        "contracts"
    ]
    (core,) = [c for c in contracts if c["name"].startswith("The core knows no front end")]
    sides = {"core": core["source_modules"], "front end": [m for m in core["forbidden_modules"] if m.startswith("bot")]}

    def side(module: str) -> list[str]:
        return [
            name for name, listed in sides.items() if any(module == m or module.startswith(m + ".") for m in listed)
        ]

    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in (ROOT / "bot").rglob("*.py")
    } - {"bot"}
    assert {m: side(m) for m in sorted(modules) if len(side(m)) != 1} == {}

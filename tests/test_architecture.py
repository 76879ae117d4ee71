"""The layout's rules (docs/architecture.md), on mlpact's own source.

The layers themselves are import-linter contracts (pyproject.toml), run by `make lint` and
`make test`; here: no import cycle even counting imports inside functions, a function imports an
mlpact module only to defer a heavy third-party package, and no private name crosses modules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "mlpact"
# Third-party packages worth deferring: each costs a noticeable part of a cold start.
HEAVY = frozenset(
    {"numpy", "pandas", "pyarrow", "pydantic", "yaml", "sklearn", "scipy", "skops", "matplotlib", "torch",
     "safetensors", "PIL", "mlflow", "ray", "optuna", "fastapi", "starlette", "uvicorn", "orjson",
     "prometheus_client", "httpx", "nbformat", "nbclient", "fsspec", "s3fs", "typer", "rich"}
)  # fmt: skip


@cache
def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text(encoding="utf-8"))


def _type_checking(module: ast.Module) -> set[int]:
    return {
        id(node)
        for block in ast.walk(module)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }


def _owner(target: str) -> str | None:
    while target and target not in modules():
        target = target.rpartition(".")[0]
    return target or None


def imports(name: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, list[str], bool]]:
    """Every import of a module outside `if TYPE_CHECKING:`: the node, what it names (module
    paths; for `from m import x`, ``m.x`` when that is a module, else ``m``), inside a function."""
    module, skip = tree(name), _type_checking(tree(name))
    base = name if modules()[name].name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST, inside: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, list[str], bool]]:
        for child in ast.iter_child_nodes(node):
            deeper = inside or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import | ast.ImportFrom) and id(child) not in skip:
                if isinstance(child, ast.Import):
                    yield child, [a.name for a in child.names], inside
                else:
                    root = base
                    for _ in range(max(child.level - 1, 0)):
                        root = root.rpartition(".")[0]
                    mod = f"{root}.{child.module}" if child.level and child.module else (child.module or root)
                    named = [
                        f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules() else mod for a in child.names
                    ]
                    yield child, named, inside
            yield from visit(child, deeper)

    yield from visit(module, False)


def _direct(name: str) -> tuple[set[str], set[str]]:
    """The mlpact modules (parent packages included) and heavy packages `name` imports at its top."""
    own: set[str] = set()
    heavy = (
        {"torch"}
        if any(  # mlpact.torch modules: `torch = require("torch")`
            isinstance(n, ast.Assign) and "require(" in ast.unparse(n.value) for n in tree(name).body
        )
        else set()
    )
    for _, named, inside in imports(name):
        for target in named if not inside else []:
            owner = _owner(target) if target.split(".")[0] == "mlpact" else None
            if owner is not None:
                own |= {owner, *_parents(owner)}
            elif target.split(".")[0] in HEAVY:
                heavy.add(target.split(".")[0])
    return own - {name}, heavy


def _parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(2, len(parts))}


@cache
def heavy_at_import(name: str) -> frozenset[str]:
    """The heavy packages that importing `name` (and its parent packages) imports."""
    seen, todo, found = set(), [name, *_parents(name)], set()
    while todo:
        current = todo.pop()
        if current in seen or current not in modules():
            continue
        seen.add(current)
        own, heavy = _direct(current)
        found |= heavy
        todo += own
    return frozenset(found)


def test_no_import_cycle_even_counting_imports_inside_functions() -> None:
    edges = {
        name: {
            o
            for _, named, _ in imports(name)
            for t in named
            if (o := _owner(t)) and o != name and o != "mlpact"
        }
        for name in modules()
    }
    cycles = []
    for start in edges:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in edges[node]:
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert cycles == []


def test_a_function_imports_mlpact_only_to_defer_a_heavy_package() -> None:
    """mlpact's own modules are imported at the top of a file; an import inside a function is
    for a module that would bring a heavy package this module does not import already (the CLI,
    which imports the library inside each command, and the lazy `mlpact` package are apart)."""
    needless = []
    for name in modules():
        if name == "mlpact" or name.startswith("mlpact.cli"):
            continue
        for node, named, inside in imports(name):
            owners = {_owner(t) for t in named if t.split(".")[0] == "mlpact"}
            if not inside or not owners or name in owners:
                continue
            deferred = set().union(*(heavy_at_import(o) for o in owners if o))
            if not deferred - heavy_at_import(name):
                needless.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert needless == []


def test_no_private_name_is_imported_from_another_module() -> None:
    crossings = []
    for name in modules():
        for node, named, _ in imports(name):
            if isinstance(node, ast.ImportFrom):
                crossings += [
                    f"{name}:{node.lineno}: {a.name}"
                    for a in node.names
                    if a.name.startswith("_")
                    and not a.name.startswith("__")
                    and (node.module or "").startswith("mlpact")
                ]
            for target in named:
                parts = target.split(".")
                private = [i for i, p in enumerate(parts) if p.startswith("_") and not p.startswith("__")]
                if parts[0] == "mlpact" and private:
                    package = ".".join(parts[: private[0]])
                    if not (name == package or name.startswith(package + ".")):
                        crossings.append(f"{name}:{node.lineno}: {target}")
    assert crossings == []


def test_each_command_imports_the_library_once() -> None:
    """A command parses, calls the library and prints: one import inside it (so `mlpact --help`
    imports none of the library), not a lazy import per helper it happens to need."""
    counts = {}
    for name in modules():
        if not name.startswith("mlpact.cli.") or name == "mlpact.cli._app":
            continue
        for fn in tree(name).body:
            if isinstance(fn, ast.FunctionDef) and any(
                "command" in ast.unparse(d) for d in fn.decorator_list
            ):
                found = [n for n in ast.walk(fn) if isinstance(n, ast.Import | ast.ImportFrom)]
                counts[f"{name}.{fn.name}"] = sum(
                    ast.unparse(n).split()[1].startswith("mlpact") for n in found
                )
    assert len(counts) > 30
    assert {k: v for k, v in counts.items() if v != 1} == {}


LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter (dev extra) is not installed")
def test_the_layers_contracts_are_kept() -> None:
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=SRC.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]

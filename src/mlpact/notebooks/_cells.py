"""Reading notebooks, and what their code cells define and use (static analysis with `ast`)."""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlpact.errors import MissingDependencyError, NotebookError

_IPYTHON_NAMES = frozenset({"get_ipython", "display", "In", "Out", "exit", "quit", "_", "__", "___"})
_MAGIC_ASSIGN = re.compile(r"^(\s*[\w\s,]+=\s*)[!%].*$")


@dataclass
class Finding:
    """One problem in one cell (cells count from 1, top to bottom, markdown included)."""

    check: str
    cell: int
    message: str
    severity: str = "error"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NotebookReport:
    """Every finding about one notebook; `ok` when none is an error."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    rerun: bool = False

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "rerun": self.rerun,
            "findings": [f.to_dict() for f in self.findings],
        }


def nbformat_module() -> Any:
    try:
        import nbformat
    except ImportError as exc:
        raise MissingDependencyError("nbformat", extra="notebooks", feature="Notebook commands") from exc
    return nbformat


def read(path: str | Path) -> Any:
    """Read a notebook (nbformat 4), with a clear error for a missing or broken file."""
    nbformat = nbformat_module()
    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"Notebook {str(path)!r} does not exist.")
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)  # read() only logs a schema violation; a crafted file must stop here
    except Exception as exc:  # nbformat raises JSON, validation and version errors
        raise NotebookError(f"Cannot read {str(path)!r} as a Jupyter notebook: {_first_line(exc)}") from None
    return nb


def _first_line(exc: Exception) -> str:
    """jsonschema's messages run to pages (the whole schema); the first line says what is wrong."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def code_cells(cells: list[Any]) -> list[tuple[int, Any]]:
    return [(i + 1, c) for i, c in enumerate(cells) if c.cell_type == "code" and c.source.strip()]


# --------------------------------------------------------------------------- names across cells
def names_before_definition(cells: list[Any]) -> list[Finding]:
    """Names a cell loads before any earlier cell (or its own earlier statements) defines them."""
    code = code_cells(cells)
    per_cell: list[tuple[int, list[tuple[str, int]], set[str], bool]] = []
    for n, cell in code:
        tree = parse(cell.source)
        if tree is None:
            continue
        scan = _Scan()
        for stmt in tree.body:
            scan.statement(stmt)
        per_cell.append((n, scan.early_loads, scan.defined, scan.star))
    first_definition: dict[str, int] = {}
    for n, _, defined, _ in per_cell:
        for name in defined:
            first_definition.setdefault(name, n)
    findings: list[Finding] = []
    known = set(dir(builtins)) | _IPYTHON_NAMES
    seen: set[str] = set()
    for n, loads, defined, star in per_cell:
        for name, _line in loads:
            if name in seen or name in known or name.startswith("_"):
                continue
            later = first_definition.get(name)
            if later is not None and later > n:
                findings.append(
                    Finding(
                        "hidden-state",
                        n,
                        f"name {name!r} is used in cell {n} but first defined "
                        f"in cell {later} below it: run top to bottom, this fails",
                    )
                )
            elif later is None:
                findings.append(
                    Finding(
                        "undefined-name",
                        n,
                        f"name {name!r} is used in cell {n} but no cell "
                        "defines it (a deleted cell? the kernel remembers what the file does not)",
                    )
                )
            seen.add(name)
        if star:
            break  # after `from x import *` names cannot be known statically
        seen |= defined
    return findings


class _Scan:
    """Walks a cell's statements in order: loads before definition, and names defined."""

    def __init__(self) -> None:
        self.defined: set[str] = set()
        self.early_loads: list[tuple[str, int]] = []
        self.star = False

    def statement(self, stmt: ast.stmt) -> None:
        for name, line in _loads(stmt):
            if name not in self.defined:
                self.early_loads.append((name, line))
        self.defined |= stores(stmt)
        if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
            self.star = True


def _loads(stmt: ast.stmt) -> list[tuple[str, int]]:
    """Names a statement reads when it runs (not inside function bodies, which run later)."""
    out: list[tuple[str, int]] = []

    def visit(node: ast.AST, local: frozenset[str]) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for d in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
                if d is not None:
                    visit(d, local)
            return
        if isinstance(node, ast.Lambda):
            for d in [*node.args.defaults, *node.args.kw_defaults]:
                if d is not None:
                    visit(d, local)
            return
        if isinstance(node, ast.ClassDef):
            for d in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
                visit(d, local)
            return
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            targets = frozenset(
                n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)
            )
            visit(node.generators[0].iter, local)
            inner = local | targets
            for g in node.generators:
                for cond in g.ifs:
                    visit(cond, inner)
            for g in node.generators[1:]:
                visit(g.iter, inner)
            for part in (node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,):
                visit(part, inner)
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
            out.append((node.id, node.lineno))
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            out.append((node.target.id, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, local)

    visit(stmt, frozenset())
    return out


def stores(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds (assignments, imports, defs, loop and with targets)."""
    names: set[str] = set()
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"}
    for node in ast.walk(stmt):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            if not isinstance(node, ast.Lambda):
                names.add(node.name)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def parse(source: str) -> ast.Module | None:
    """Parse a cell, with IPython magics and shell escapes neutralised; None if it is not Python."""
    if source.lstrip().startswith("%%"):
        return None
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!", "?")) or stripped.endswith("?"):
            lines.append(line[: len(line) - len(stripped)] + "pass")
        else:
            lines.append(_MAGIC_ASSIGN.sub(r"\1None", line))
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None

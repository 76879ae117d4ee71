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
        if star:  # after `from x import *` names cannot be known statically
            findings.append(_star_finding(n, code[-1][0]))
            break
        seen |= defined
    return findings


def _star_finding(n: int, last: int) -> Finding:
    rest = f"cells {n} to {last}" if last > n else f"cell {n}"
    return Finding(
        "star-import",
        n,
        f"`import *` in cell {n}: the names it brings cannot be known, so checking for undefined "
        f"and hidden-state names stopped there ({rest} not checked); import the names you use",
        severity="warning",
    )


class _Scan:
    """Walks a cell's statements in order: loads before definition, and names defined."""

    def __init__(self) -> None:
        self.defined: set[str] = set()
        self.early_loads: list[tuple[str, int]] = []
        self.star = False

    def statement(self, stmt: ast.stmt) -> None:
        if self.star:
            return  # what `import *` brought is unknown: no load after it can be judged
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
    """Names a top-level statement binds (assignments, imports, defs, loop and with targets).

    ``counter += 1`` binds nothing new: it needs `counter` to exist already."""
    names: set[str] = set()
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"}
    nodes = _outer_scope(stmt)
    updated = {id(n.target) for n in nodes if isinstance(n, ast.AugAssign)}
    for node in nodes:
        if id(node) in updated:
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            names.add(node.target.id)  # a walrus binds in the cell's scope, even in a comprehension
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _outer_scope(stmt: ast.stmt) -> list[ast.AST]:
    """The nodes of a statement, not descending into function, class, lambda and comprehension
    bodies (whose names are their own), but keeping walrus targets inside comprehensions."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = [stmt]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, _COMPREHENSIONS):
            out += [n for n in ast.walk(node) if isinstance(n, ast.NamedExpr)]
        elif not isinstance(node, _DEFINITIONS):
            todo.extend(ast.iter_child_nodes(node))
    return out


def parse(source: str) -> ast.Module | None:
    """Parse a cell as the kernel runs it; None if it is not Python.

    IPython syntax is turned into Python the way IPython does (its `TransformerManager`, when
    IPython is installed; else a line rewrite): magics become calls that bind nothing, except that
    the code `%time`, `%%time` and `%%capture` run is the cell's own code (it runs in the user's
    namespace), and ``files = !ls`` binds ``files``.
    """
    python = _ipython_to_python(source)
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return None
    inlined: ast.Module = _InlineMagics().visit(tree)
    return ast.fix_missing_locations(inlined)


def _ipython_to_python(source: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return _rewrite_magics(source)
    try:
        return str(TransformerManager().transform_cell(source))  # type: ignore[no-untyped-call]
    except Exception:  # IPython's transformers reject some malformed input: parse it as it is
        return source


# Magics that run Python code in the user's namespace: the code is what the cell does.
_CODE_LINE_MAGICS = frozenset({"time"})
_CODE_CELL_MAGICS = frozenset({"time", "capture"})


class _InlineMagics(ast.NodeTransformer):
    """Replace ``get_ipython().run_line_magic('time', CODE)`` (and the cell magics above) by CODE."""

    def visit_Expr(self, node: ast.Expr) -> Any:
        magic = _magic_call(node.value)
        if magic is None:
            return node
        kind, name, line, body = magic
        if kind == "run_line_magic" and name in _CODE_LINE_MAGICS:
            code = line
        elif kind == "run_cell_magic" and name in _CODE_CELL_MAGICS:
            code = body
            target = line.split()[0] if line.split() else ""  # `%%capture out`: binds `out`
            if name == "capture" and target.isidentifier():
                code += f"\n{target} = None"
        else:
            return node
        inner = parse(code)
        if inner is None or not inner.body:
            return node
        for stmt in inner.body:
            ast.increment_lineno(stmt, node.lineno - 1)
        return inner.body


def _magic_call(node: ast.expr) -> tuple[str, str, str, str] | None:
    """(run_line_magic | run_cell_magic, name, line, body) of a magic call IPython wrote, or None."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    owner = node.func.value
    if (
        not (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name))
        or owner.func.id != "get_ipython"
    ):
        return None
    args = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    if node.func.attr not in ("run_line_magic", "run_cell_magic") or len(args) != len(node.args):
        return None
    name, line, body = (*args, "", "")[:3]
    return node.func.attr, name, line, body


def _rewrite_magics(source: str) -> str:
    """Without IPython: cell magics and line magics as calls, shell escapes as values."""
    first, _, rest = source.lstrip().partition("\n")
    if first.startswith("%%"):
        name, _, line = first[2:].partition(" ")
        return f"get_ipython().run_cell_magic({name!r}, {line.strip()!r}, {rest!r})"
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith("%") and not stripped.startswith("%%"):
            name, _, rest_of_line = stripped[1:].partition(" ")
            lines.append(f"{indent}get_ipython().run_line_magic({name!r}, {rest_of_line.strip()!r})")
        elif stripped.startswith(("!", "?")) or stripped.endswith("?"):
            lines.append(indent + "pass")
        else:
            lines.append(_MAGIC_ASSIGN.sub(r"\1None", line))
    return "\n".join(lines)

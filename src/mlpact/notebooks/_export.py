"""Lifting the cells marked for export into an importable module."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from mlpact.errors import NotebookError
from mlpact.notebooks._cells import read

EXPORT_MARK = re.compile(r"^#\s*\|\s*export\s*$")


# --------------------------------------------------------------------------- export
def export(path: str | Path, output: str | Path, *, check_only: bool = False) -> str:
    """Lift the cells marked for export into a module: imports gathered at the top, then the code.

    A cell is exported when it is tagged ``export`` or its first line is ``#| export``.

    Args:
        check_only: do not write; raise if the module on disk differs (for CI and pre-commit).

    Raises:
        NotebookError: nothing is marked for export, an exported cell is not valid Python, or
            (with `check_only`) the module is out of date.
    """
    src, out = Path(path), Path(output)
    nb = read(src)
    cells = [_strip_mark(c.source) for c in nb.cells if c.cell_type == "code" and _is_exported(c)]
    if not cells:
        raise NotebookError(
            f"No cell of {src} is marked for export.",
            hint="Tag cells `export` or start them with `#| export`.",
        )
    imports, body = _split_imports(cells, src)
    text = (
        f'"""Generated from {src.name} by `mlpact nb export`: edit the notebook and export again."""\n\n'
        + ("\n".join(imports) + "\n\n\n" if imports else "")
        + "\n\n\n".join(b.strip() for b in body if b.strip())
        + "\n"
    )
    compile(text, str(out), "exec")
    if check_only:
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            raise NotebookError(
                f"{out} is not up to date with {src}.", hint=f"Run `mlpact nb export {src} -o {out}`."
            )
        return text
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return text


def _is_exported(cell: Any) -> bool:
    first = cell.source.lstrip().splitlines()[:1]
    return "export" in cell.get("metadata", {}).get("tags", []) or bool(first and EXPORT_MARK.match(first[0]))


def _strip_mark(source: str) -> str:
    lines = source.splitlines()
    while lines and (not lines[0].strip() or EXPORT_MARK.match(lines[0].strip())):
        lines.pop(0)
    return "\n".join(lines)


def _split_imports(cells: list[str], src: Path) -> tuple[list[str], list[str]]:
    imports: list[str] = []
    body: list[str] = []
    for source in cells:
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            raise NotebookError(f"An exported cell of {src} is not valid Python: {exc}") from None
        lines = source.splitlines()
        keep = [True] * len(lines)
        for stmt in tree.body:
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                text = "\n".join(lines[stmt.lineno - 1 : stmt.end_lineno])
                if text not in imports:
                    imports.append(text)
                for i in range(stmt.lineno - 1, stmt.end_lineno or stmt.lineno):
                    keep[i] = False
        body.append("\n".join(line for line, k in zip(lines, keep, strict=True) if k))
    future = [i for i in imports if i.startswith("from __future__")]
    return future + [i for i in imports if i not in future], body

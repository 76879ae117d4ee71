"""Executing notebooks: clean re-runs for `check --rerun`, and parameterised `run`."""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlpact._core import files
from mlpact.errors import MissingDependencyError, NotebookError, OverrideError
from mlpact.notebooks._cells import Finding, nbformat_module, parse, read, stores

DEFAULT_TIMEOUT_S = 600
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
_KERNEL_FILE = re.compile(r"\S*ipykernel_\d+[\\/]\d+\.py")  # a cell's file name differs per kernel


# --------------------------------------------------------------------------- running
def _client(nb: Any, folder: Path, *, timeout: int, kernel: str | None, sockets: str) -> Any:
    try:
        from nbclient import NotebookClient
    except ImportError as exc:
        raise MissingDependencyError("nbclient", extra="notebooks", feature="Running notebooks") from exc
    from jupyter_client.manager import KernelManager

    name = kernel or nb.metadata.get("kernelspec", {}).get("name") or "python3"
    # IPC (unix sockets) rather than TCP: the kernel is reachable only from this machine.
    manager = KernelManager(kernel_name=name, transport="ipc", ip=str(Path(sockets) / "kernel"))
    return NotebookClient(
        nb, km=manager, timeout=timeout, kernel_name=name, resources={"metadata": {"path": str(folder)}}
    )


def _execute(nb: Any, folder: Path, *, timeout: int, kernel: str | None) -> tuple[int | None, str | None]:
    """Run every cell; return (1-based failing cell, error) or (None, None)."""
    import tempfile

    from nbclient.exceptions import CellExecutionError, DeadKernelError

    try:
        with tempfile.TemporaryDirectory(prefix="mlpact-kernel-") as sockets:
            _client(nb, folder, timeout=timeout, kernel=kernel, sockets=sockets).execute()
    except CellExecutionError as exc:
        for i, cell in enumerate(nb.cells):
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                return i + 1, f"{errors[0]['ename']}: {errors[0]['evalue']}"
        return None, str(exc).strip().splitlines()[-1]
    except (DeadKernelError, TimeoutError, RuntimeError) as exc:
        failing = next(
            (
                i + 1
                for i, c in enumerate(nb.cells)
                if c.cell_type == "code" and c.get("execution_count") is None
            ),
            None,
        )
        return (
            failing,
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}",
        )
    return None, None


def rerun_findings(nb: Any, path: Path, *, timeout: int, kernel: str | None) -> list[Finding]:
    fresh = copy.deepcopy(nb)
    failing, error = _execute(fresh, path.parent, timeout=timeout, kernel=kernel)
    if failing is not None or error is not None:
        return [
            Finding(
                "rerun-failed",
                failing or 0,
                f"re-running top to bottom in a fresh kernel fails at cell {failing}: {error}",
            )
        ]
    findings = []
    for i, (old, new) in enumerate(zip(nb.cells, fresh.cells, strict=True)):
        if old.cell_type != "code" or old.get("execution_count") is None:
            continue
        before, after = _text_outputs(old), _text_outputs(new)
        if before != after:
            diff = next(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0), "")
            findings.append(
                Finding(
                    "output-differs",
                    i + 1,
                    "re-run output differs from the saved output"
                    + (" (e.g. " + repr(_first_change(before, after)) + ")" if diff else ""),
                    severity="warning",
                )
            )
    return findings


def _text_outputs(cell: Any) -> str:
    parts = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(out.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            parts.append(str(out.get("data", {}).get("text/plain", "")))
        elif kind == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return _KERNEL_FILE.sub("<cell>", _ADDRESS.sub("0x…", "".join(parts))).strip()


def _first_change(before: str, after: str) -> str:
    for a, b in zip(before.splitlines(), after.splitlines(), strict=False):
        if a != b:
            return f"{a[:40]} -> {b[:40]}"
    return "number of lines changed"


def run(
    path: str | Path,
    output: str | Path,
    *,
    parameters: Mapping[str, Any] | None = None,
    timeout: int = DEFAULT_TIMEOUT_S,
    kernel: str | None = None,
) -> Path:
    """Execute a notebook with parameters and save the executed copy (also when a cell fails).

    Parameters are injected in a new cell tagged ``injected-parameters`` right after the cell
    tagged ``parameters`` (as papermill does). Every parameter must be assigned in that cell,
    so a misspelt name is an error rather than a silent no-op.

    Raises:
        NotebookError: no `parameters` cell, an unknown parameter, or a cell failed.
    """
    nb = read(path)
    src, out = Path(path), Path(output)
    if parameters:
        _inject(nb, dict(parameters), src)
    failing, error = _execute(nb, src.parent, timeout=timeout, kernel=kernel)
    nb.metadata.setdefault("mlpact", {})["parameters"] = dict(parameters or {})
    nbformat_module().write(nb, out)
    if failing is not None or error is not None:
        raise NotebookError(f"{src} failed at cell {failing}: {error}. The executed notebook is in {out}.")
    return out


def _inject(nb: Any, parameters: dict[str, Any], src: Path) -> None:
    nbformat = nbformat_module()
    index = next(
        (i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), None
    )
    if index is None:
        raise NotebookError(
            f"{src} has no cell tagged 'parameters', so there is nowhere to inject {sorted(parameters)}.",
            hint="Put the defaults in one cell and give it the tag `parameters`.",
        )
    tree = parse(nb.cells[index].source)
    declared: set[str] = set().union(*(stores(s) for s in tree.body)) if tree is not None else set()
    unknown = sorted(set(parameters) - declared)
    if unknown:
        hints = {u: difflib.get_close_matches(u, sorted(declared), n=1) for u in unknown}
        said = ", ".join(f"{u!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for u, h in hints.items())
        raise NotebookError(f"Unknown parameter {said}: the parameters cell defines {sorted(declared)}.")
    source = "# Parameters injected by mlpact nb run\n" + "".join(
        f"{k} = {v!r}\n" for k, v in parameters.items()
    )
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(index + 1, cell)


def parse_parameters(items: Iterable[str]) -> dict[str, Any]:
    """`key=value` strings to a dict; values are parsed as YAML scalars or lists."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise OverrideError(item, flag="-p", form="name=value", example="alpha=0.5")
        out[key.strip()] = _parse_value(value)
    return out


def _parse_value(value: str) -> Any:
    """A YAML scalar or list; text that is not valid (safe) YAML is kept as text."""
    import yaml

    try:
        return files.safe_yaml(value) if value.strip() else None
    except yaml.YAMLError:
        return value

"""A project's own source folders on sys.path, so code a config names imports without installing
the project (what ``[tool.mlpact] source-dirs`` in its pyproject.toml says)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def use_project(start: str | Path = ".") -> list[Path]:
    """Make the project's own code importable in a notebook or script (see `add_project_paths`)."""
    return add_project_paths(start)


def add_project_paths(start: str | Path) -> list[Path]:
    """Put a project's source folders on sys.path, as its pyproject.toml declares them.

    The nearest ``pyproject.toml`` at or above `start` with a ``[tool.mlpact]`` table may list
    ``source-dirs`` (relative to it, default ``["src"]``); `mlpact init` writes one. Code named in
    a config (``mypkg.features:AddRatios``) then imports without installing the project.

    Returns:
        The folders added (empty when there is no such project).
    """
    folder = Path(start).resolve()
    for candidate in [folder, *folder.parents]:
        path = candidate / "pyproject.toml"
        if not path.is_file():
            continue
        try:
            tool = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {})
        except (OSError, tomllib.TOMLDecodeError):
            return []
        if "mlpact" not in tool:
            return []
        dirs = [candidate / d for d in tool["mlpact"].get("source-dirs", ["src"])]
        added = [d for d in dirs if d.is_dir() and str(d) not in sys.path]
        sys.path[:0] = [str(d) for d in added]
        return added
    return []

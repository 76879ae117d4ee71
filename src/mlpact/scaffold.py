"""`mlpact init`: a project that trains out of the box, or a starter config from a data file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mlpact.errors import DataError
from mlpact.starter import Starter, render, starter

_PACKAGE = re.compile(r"[a-z_][a-z0-9_]*")  # fullmatch: `$` accepts a final newline


# --------------------------------------------------------------------------- starter config from data
def starter_config(data: str | Path, target: str, *, output: str | Path, sep: str = ",") -> dict[str, Any]:
    """A config for a data file: what an experienced person would write first (see `mlpact.starter`),
    with its inferred schema written out as the `schema:` section.

    Args:
        data: a CSV or Parquet file.
        target: the column to predict.
        output: where the config will be written (the data path is made relative to it).
    """
    return _starter(data, target, output=output, sep=sep).config


def _starter(data: str | Path, target: str, *, output: str | Path, sep: str) -> Starter:
    from mlpact.data.sources import closest_column, read_table

    frame = read_table(data, sep=sep)
    if target not in frame.columns:
        close = closest_column(target, frame.columns)
        raise DataError(
            f"Target column {target!r} is not in {data}"
            + (f"; did you mean {close!r}?" if close else "")
            + f" Its columns are {sorted(map(str, frame.columns))!r}.",
            hint="Name one of the file's columns with --target (names must match exactly).",
        )
    found = starter(
        frame, target, name=_slug(Path(data).stem), source=_relative(Path(data), Path(output).parent)
    )
    if sep != ",":
        found.config["data"]["sep"] = sep
    return found


def _relative(path: Path, folder: Path) -> str:
    import os

    try:
        return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return str(path.resolve())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "model"


def write_starter_config(data: str | Path, target: str, output: str | Path, *, sep: str = ",") -> Path:
    """Write `starter_config` as YAML, each choice with its reason as a comment; refuses to overwrite."""
    out = Path(output)
    if out.exists():
        raise DataError(f"{out} already exists; choose another --output or remove it.")
    found = _starter(data, target, output=out, sep=sep)
    header = (
        f"Starter config for {Path(data).name}, written by `mlpact init --from-data`.\n"
        "Every choice says why in the comment above it; edit freely. The schema section pins what\n"
        "was inferred (types, categories, ranges). Reference: docs/config-reference.md\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(found, header), encoding="utf-8")
    return out


# --------------------------------------------------------------------------- a whole project
def init_project(directory: str | Path, *, package: str | None = None) -> list[Path]:
    """Scaffold a project: configs/, notebooks/, src/PACKAGE/ for custom features, tests/,
    Makefile, .gitignore (the store), pre-commit config; `mlpact train configs/model.yaml`
    works at once.

    Raises:
        DataError: the folder exists and is not empty, or the package name is not valid.
    """
    root = Path(directory)
    name = package or re.sub(r"[^a-z0-9_]", "_", root.resolve().name.lower()).strip("_") or "project"
    if not _PACKAGE.fullmatch(name):
        raise DataError(f"{name!r} is not a valid Python package name; pass --package NAME (lowercase, _).")
    if root.exists() and any(root.iterdir()):
        raise DataError(
            f"{root} exists and is not empty; mlpact init only writes into a new or empty folder."
        )
    written = []
    for rel, text in _files(name).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _files(package: str) -> dict[str, str]:
    def fill(text: str) -> str:
        return text.replace("PACKAGE", package)

    return {
        "pyproject.toml": fill(_PYPROJECT),
        "Makefile": _MAKEFILE,
        ".gitignore": _GITIGNORE,
        ".pre-commit-config.yaml": _PRECOMMIT,
        "README.md": fill(_README),
        "configs/model.yaml": fill(_CONFIG),
        f"src/{package}/__init__.py": f'"""{package}: features and models used by the configs."""\n',
        f"src/{package}/features.py": _FEATURES,
        "tests/test_features.py": fill(_TESTS),
        "notebooks/01-explore.ipynb": json.dumps(_notebook(package), indent=1) + "\n",
    }


def _notebook(package: str) -> dict[str, Any]:
    def cell(kind: str, source: str, tags: list[str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"cell_type": kind, "metadata": {"tags": tags or []}, "source": source}
        if kind == "code":
            out.update(execution_count=None, outputs=[])
        return out

    cells = [
        cell("markdown", "# Explore\n\nThink here; run with `mlpact train configs/model.yaml`. "
             "Cells marked `#| export` go to the package with `mlpact nb export`."),
        cell("code", "import pandas as pd\nfrom sklearn.datasets import load_wine\n\nimport mlpact\n\n"
             "mlpact.use_project()  # puts src/ on sys.path, as pyproject.toml [tool.mlpact] says"),
        cell("code", "frame = load_wine(as_frame=True).frame\nframe.describe().T.head()"),
        cell("code", f"from {package}.features import AddRatios\n\n"
             "AddRatios().fit_transform(frame.drop(columns='target')).filter(like='_per_').head()"),
        cell("code", "store = '../.mlpact'  # the project's store (mlpact train run from the project)\n"
             "result = mlpact.train('../configs/model.yaml', ['evaluate.cv_folds=3'], store=store)\n"
             "result.ref, round(result.metrics['test']['accuracy'], 3)"),
        cell("code", "mlpact.models(store=store)"),
    ]  # fmt: skip
    for i, c in enumerate(cells):
        c["id"] = f"cell-{i + 1}"
    return {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


_PYPROJECT = """[project]
name = "PACKAGE"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["mlpact"]

[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[tool.setuptools.packages.find]
where = ["src"]

# mlpact puts these folders on sys.path, so configs can name PACKAGE.features:AddRatios
# without installing the project.
[tool.mlpact]
source-dirs = ["src"]
"""

_MAKEFILE = """.PHONY: train test check

train:  ## Train the model the config describes and save a version in ./.mlpact
\tmlpact train configs/model.yaml

test:  ## Test the project's own code
\tPYTHONPATH=src python -m pytest -q tests

check:  ## Notebooks must not hide state
\tmlpact nb check notebooks/*.ipynb
"""

_GITIGNORE = """# the model store (versions are shared with `mlpact models export`, not git)
.mlpact/
__pycache__/
*.egg-info/
.ipynb_checkpoints/
.venv/
"""

_PRECOMMIT = """repos:
  - repo: local
    hooks:
      - id: mlpact-nb-check
        name: notebooks have no hidden state
        entry: mlpact nb check
        language: system
        files: \\.ipynb$
"""

_README = """# PACKAGE

| command | what it does |
| --- | --- |
| `mlpact train configs/model.yaml` | train, evaluate and save a version in `./.mlpact` |
| `mlpact models list` | the saved versions |
| `mlpact predict PACKAGE new.csv -o predictions.csv` | predict with the latest version |
| `make test` | test the project's code in `src/PACKAGE` |
| `mlpact nb check notebooks/*.ipynb` | notebooks must run top to bottom |

Explore in `notebooks/`; move what stabilised into `src/PACKAGE/` (`mlpact nb export`),
test it in `tests/`, and name it in the config (`features.custom`).
"""

_CONFIG = """# Trains out of the box on scikit-learn's wine data: replace data.source with your file.
name: PACKAGE
description: A starter model with a custom feature from src/PACKAGE/features.py.
data:
  source: sklearn:wine
  target: target
features:
  custom:
    - type: PACKAGE.features:AddRatios
      params:
        pairs: [[flavanoids, proline], [alcohol, hue]]
model:
  type: sklearn.ensemble.RandomForestClassifier
  params:
    n_estimators: 200
evaluate:
  cv_folds: 5
"""

_FEATURES = '''"""Feature code the configs use by import path (e.g. `features.custom`)."""

from __future__ import annotations

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin


class AddRatios(TransformerMixin, BaseEstimator):
    """Add a `<a>_per_<b>` column for each (a, b) pair; the input columns are kept."""

    def __init__(self, pairs: tuple[tuple[str, str], ...] = (("flavanoids", "proline"),)) -> None:
        self.pairs = pairs

    def fit(self, X: pd.DataFrame, y: object = None) -> AddRatios:
        missing = sorted({c for pair in self.pairs for c in pair} - set(X.columns))
        if missing:
            raise ValueError(f"AddRatios needs columns {missing}, which the input lacks.")
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        for a, b in self.pairs:
            out[f"{a}_per_{b}"] = X[a] / X[b].where(X[b] != 0)
        return out
'''

_TESTS = """import pandas as pd
import pytest

from PACKAGE.features import AddRatios


def test_add_ratios_adds_one_column_per_pair() -> None:
    frame = pd.DataFrame({"flavanoids": [1.0, 2.0], "proline": [2.0, 0.0]})
    out = AddRatios().fit_transform(frame)
    assert out["flavanoids_per_proline"].tolist()[0] == 0.5
    assert pd.isna(out["flavanoids_per_proline"].tolist()[1])


def test_add_ratios_names_missing_columns() -> None:
    with pytest.raises(ValueError, match="needs columns"):
        AddRatios(pairs=(("a", "b"),)).fit(pd.DataFrame({"a": [1]}))
"""

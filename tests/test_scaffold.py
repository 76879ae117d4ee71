"""mlpact init: a project that trains out of the box, and starter configs from data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import mixed_frame
from mlpact.config import load_config
from mlpact.errors import DataError
from mlpact.scaffold import init_project, write_starter_config


def test_init_project_trains_out_of_the_box_and_its_tests_pass(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    written = {p.relative_to(root).as_posix() for p in init_project(root, package="winelab")}
    assert {
        "configs/model.yaml",
        "notebooks/01-explore.ipynb",
        "src/winelab/features.py",
        "tests/test_features.py",
        "Makefile",
        ".gitignore",
        ".pre-commit-config.yaml",
        "pyproject.toml",
    } <= written
    assert ".mlpact/" in (root / ".gitignore").read_text()
    script = Path(sys.executable).with_name("mlpact")
    env = {**os.environ, "MLPACT_HOME": ""}
    done = subprocess.run(
        [
            str(script),
            "train",
            "configs/model.yaml",
            "--set",
            "evaluate.cv_folds=2",
            "--set",
            "evaluate.plots=false",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert (root / ".mlpact" / "models" / "winelab" / "1" / "manifest.json").exists()
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": "src"},
    )
    assert tests.returncode == 0, tests.stdout


def test_init_project_notebook_passes_static_checks(tmp_path: Path) -> None:
    pytest.importorskip("nbformat")
    from mlpact import notebooks

    init_project(tmp_path / "p", package="pkg")
    assert notebooks.check(tmp_path / "p" / "notebooks" / "01-explore.ipynb").findings == []


@pytest.mark.parametrize(
    "setup, package, message",
    [
        ("file", None, "is not empty"),
        ("none", "Bad-Name", "is not a valid Python package name"),
        ("none", "pkg\n", r"'pkg\\n' is not a valid Python package name"),  # `$` matches before a newline
    ],
)
def test_init_project_refuses(tmp_path: Path, setup: str, package: str | None, message: str) -> None:
    root = tmp_path / "p"
    if setup == "file":
        root.mkdir()
        (root / "keep.txt").write_text("x")
    with pytest.raises(DataError, match=message):
        init_project(root, package=package)


def test_starter_config_from_data_writes_the_inferred_schema(tmp_path: Path) -> None:
    frame = mixed_frame(120)
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "customers.csv", index=False)
    out = write_starter_config(tmp_path / "data" / "customers.csv", "label", tmp_path / "configs" / "c.yaml")
    text = out.read_text()
    assert text.startswith("# Starter config for customers.csv")
    raw = yaml.safe_load(text)
    assert raw["data"] == {"source": "../data/customers.csv", "target": "label", "drop": ["id", "day"]}
    cols = raw["schema"]["columns"]
    assert cols["color"]["type"] == "category" and cols["color"]["categories"] == ["blue", "green", "red"]
    assert cols["count"] == {"type": "int", "nullable": False, "min": 0.0, "max": 9.0}
    assert (
        cols["note"]["type"] == "text"
        and cols["day"]["type"] == "datetime"
        and cols["id"]["type"] == "string"
    )
    assert raw["model"]["type"] == "sklearn.linear_model.LogisticRegression"  # it has free text
    cfg = load_config(out)
    assert cfg.schema_.columns["color"].categories == ["blue", "green", "red"]
    with pytest.raises(DataError, match="already exists"):
        write_starter_config(tmp_path / "data" / "customers.csv", "label", out)
    with pytest.raises(DataError, match="Target column 'nope' is not in"):
        write_starter_config(tmp_path / "data" / "customers.csv", "nope", tmp_path / "x.yaml")


def test_cli_init_needs_a_target_with_from_data(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    result = CliRunner().invoke(app, ["init", "--from-data", str(tmp_path / "d.csv")])
    assert result.exit_code == 2 and "--target" in result.output

"""A runnable environment: the lock of installed packages, and the docker build context."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import mlpact
from conftest import write_config
from mlpact.cli import app
from mlpact.errors import MissingToolError
from mlpact.version import envlock, portable


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("lock")
    cfg = {
        "name": "iris",
        "data": {"source": "sklearn:iris", "target": "target"},
        "model": {"type": "sklearn.linear_model.LogisticRegression"},
        "evaluate": {"cv_folds": 0, "importance_repeats": 0, "plots": False, "leakage": False},
        "record": {"profile": False},
    }
    return mlpact.train(write_config(folder, cfg), store=folder / "store")


def test_the_lock_pins_the_installed_versions(iris: Any) -> None:
    text = (iris.path / envlock.FILE).read_text()
    pins = envlock.parse(text)
    assert pins["scikit-learn"] == metadata.version("scikit-learn")
    assert pins["numpy"] == metadata.version("numpy") and "pip" not in pins
    assert envlock.python_version(text) is not None
    assert envlock.FILE in json.loads((iris.path / "manifest.json").read_text())["files"]


def test_build_docker_writes_a_context_that_serves_the_version(iris: Any, tmp_path: Path) -> None:
    store = iris.path.parents[2]
    ctx = portable.build_docker(iris.ref, tmp_path / "ctx", store=store)
    assert ctx.files == ["Dockerfile", "entrypoint.sh", "model.tar.gz", "requirements.lock"]
    dockerfile = (tmp_path / "ctx" / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --find-links ./wheels -r requirements.lock" in dockerfile
    assert "mlpact models import model.tar.gz --name iris" in dockerfile
    py = ".".join(str(envlock.python_version((iris.path / envlock.FILE).read_text())).split(".")[:2])
    assert dockerfile.count(f"FROM python:{py}-slim") == 1
    assert (
        "exec mlpact serve iris --host 0.0.0.0 --port 8000"
        in (tmp_path / "ctx" / "entrypoint.sh").read_text()
    )
    assert (tmp_path / "ctx" / "requirements.lock").read_text().count("scikit-learn==") == 1
    from mlpact.version.portable import import_version

    assert import_version(tmp_path / "ctx" / "model.tar.gz", store=tmp_path / "s").ref == "iris:1"


def test_build_without_docker_fails_clearly_after_writing_the_context(
    iris: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    store = iris.path.parents[2]
    with pytest.raises(MissingToolError, match="docker is not on PATH"):
        portable.build_docker(iris.ref, tmp_path / "ctx", store=store, build=True)
    assert (tmp_path / "ctx" / "Dockerfile").is_file()
    out = CliRunner().invoke(
        app, ["models", "build-docker", iris.ref, str(tmp_path / "c2"), "--build", "--store", str(store)]
    )
    assert (
        out.exit_code == 7
        and "docker is not on PATH" in out.output
        and "docker build -t mlpact-iris:1" in out.output
    )


def test_a_local_mlpact_build_is_left_unpinned() -> None:
    lock = "# python 3.11.0 (x)\nmlpact==0.1.0+g1234\nnumpy==2.0.0\n"
    assert portable.unpinned_local(lock).splitlines()[1] == "mlpact  # was 0.1.0+g1234"

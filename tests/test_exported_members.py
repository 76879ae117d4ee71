"""The public API is declared once in mlpact.__all__ and every name resolves."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mlpact

# Every public name, and the module of the layer that defines it (docs/architecture.md).
PUBLIC = {
    "Config": "mlpact.config._config",
    "load_config": "mlpact.config._load",
    "Store": "mlpact.store._store",
    "Model": "mlpact.version.model",
    "load": "mlpact.version.load",
    "TrainResult": "mlpact.training",
    "train": "mlpact.training",
    "predict": "mlpact.prediction",
    "predict_file": "mlpact.prediction",
    "evaluate_version": "mlpact.evaluate",
    "models": "mlpact.registry.frames",
    "runs": "mlpact.registry.frames",
    "compare": "mlpact.registry.frames",
    "save": "mlpact.external",
    "run": "mlpact.external",
    "use_project": "mlpact._core.project",
}


# Workload modules that are also their function (mlpact._callable): mlpact.check(...) is check_data.
CALLABLE_MODULES = ("check", "reproduce", "tune")


def test_the_public_api_is_these_names() -> None:
    assert sorted(mlpact.__all__) == sorted([*PUBLIC, *CALLABLE_MODULES, "__version__"])
    assert sorted(dir(mlpact)) == sorted(mlpact.__all__)


def test_each_public_name_comes_from_its_layer() -> None:
    for name, module in PUBLIC.items():
        assert getattr(mlpact, name).__module__ == module, name
    assert isinstance(mlpact.__version__, str)


def test_all_names_resolve() -> None:
    for name in mlpact.__all__:
        assert getattr(mlpact, name) is not None, name


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        mlpact.not_a_thing  # noqa: B018
    except AttributeError as exc:
        assert "not_a_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_train_is_the_function_even_after_the_module_is_imported() -> None:
    import mlpact.training

    assert callable(mlpact.train)
    assert mlpact.train.__module__ == "mlpact.training"


def test_import_mlpact_and_cli_do_not_import_heavy_libraries() -> None:
    code = (
        "import sys, mlpact, mlpact.cli\n"
        "heavy = [m for m in ('sklearn', 'pandas', 'torch', 'mlpact.torch', 'safetensors', 'PIL', 'mlflow', 'skops', 'scipy', 'fastapi', 'uvicorn', 'optuna', 'ray') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --------------------------------------------------------------------------- documented names
REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]
DOTTED = re.compile(r"(?<![\w.])mlpact(?:\.[A-Za-z_]\w*)+")
MLFLOW_TAGS = ("name", "version", "run_id", "config_hash", "flavor", "model_logged", "kind", "error")
# Texts in the docs that look like Python names and are not, each with the reason.
NOT_PYTHON = {
    "mlpact.db": "the store's index file (also mlpact.db.before-rebuild-TIME)",
    "mlpact.schema.json": "a file name in README's `config schema` example",
    **dict.fromkeys(
        [f"mlpact.{tag}" for tag in MLFLOW_TAGS],
        "an MLflow tag key (docs/interop.md)",
    ),
}
# Documented names not resolved yet, each with the reason (none may stay here for long).
SKIPPED: dict[str, str] = {}


def _documented_names() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for doc in DOCUMENTS:
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for name in DOTTED.findall(line):
                found.setdefault(name, []).append(f"{doc.relative_to(REPO)}:{number}")
    return found


def _skipped(name: str) -> bool:
    return any(name == s or name.startswith(s + ".") for s in (*NOT_PYTHON, *SKIPPED))


def _resolve(dotted: str) -> Any:
    parts = dotted.split(".")
    obj: Any = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], 1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: i + 1]))  # a submodule not imported yet
    return obj


def test_the_docs_name_python_objects() -> None:
    names = _documented_names()
    assert {"mlpact.check", "mlpact.reproduce", "mlpact.tune", "mlpact.train"} <= set(names)
    assert len(names) > 40  # the extraction works: the docs name many objects


@pytest.mark.parametrize("name", sorted(n for n in _documented_names() if not _skipped(n)))
def test_every_documented_name_resolves(name: str) -> None:
    try:
        _resolve(name)
    except (AttributeError, ImportError) as exc:
        where = ", ".join(_documented_names()[name][:3])
        raise AssertionError(f"{name} (documented at {where}) does not resolve: {exc}") from None


@pytest.mark.parametrize(
    ("name", "function"),
    [("check", "check_data"), ("reproduce", "reproduce"), ("tune", "tune")],
)
def test_workload_modules_are_their_functions(name: str, function: str) -> None:
    module = getattr(mlpact, name)
    target = getattr(module, function)
    assert callable(module) and module.__name__ == f"mlpact.{name}"
    assert importlib.import_module(f"mlpact.{name}") is module  # the module, whichever came first
    assert inspect.signature(module) == inspect.signature(target)
    assert name in mlpact.__all__


def test_calling_a_workload_module_calls_its_function(tmp_path: Path) -> None:
    from mlpact.errors import NotFoundError

    with pytest.raises(NotFoundError, match="No model named 'nope'"):
        mlpact.check("nope", tmp_path / "x.csv", store=tmp_path / "store")
    with pytest.raises(NotFoundError, match="No model named 'nope'"):
        mlpact.reproduce("nope", store=tmp_path / "store")

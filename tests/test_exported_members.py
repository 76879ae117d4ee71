"""The public API is declared once in mlpact.__all__ and every name resolves."""

from __future__ import annotations

import subprocess
import sys

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


def test_the_public_api_is_these_names() -> None:
    assert sorted(mlpact.__all__) == sorted([*PUBLIC, "__version__"])
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

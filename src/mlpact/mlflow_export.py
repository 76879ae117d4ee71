"""Export a version as an MLflow model: the sklearn flavour plus a pyfunc that predicts like mlpact.

The folder `export_mlflow` writes is a standard MLflow model (``MLmodel``, requirements, an input
example, a signature built from the version's schema):

- ``sklearn`` flavour (scikit-learn versions): the fitted pipeline in skops format with the
  version's recorded trusted types, for ``mlflow.sklearn.load_model``.
- ``python_function`` flavour: loads the embedded, integrity-checked mlpact version
  (``mlpact_version/``) and predicts through :meth:`mlpact.Model.predict`, so the version's
  schema coercion and validation policy apply and predictions are identical to ``mlpact.load``.
  It needs mlpact installed where the model is served (``mlflow models serve --env-manager local``).

PyTorch versions on tables export with the pyfunc flavour only (MLflow's pytorch flavour would
serve raw tensors, not the version's preprocessing); image models are refused. MLflow signatures
cannot list allowed values, so a column's categories (and the whole mlpact schema) are kept in the
model's ``metadata``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact.errors import DataError, MissingDependencyError
from mlpact.store import Store

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlpact.model import Model
    from mlpact.schema import Schema

VERSION_DIR = "mlpact_version"
EXAMPLE_ROWS = 3
# mlpact column type -> MLflow ColSpec type; an int column that may be missing is double in pandas
_MLFLOW_TYPES = {"int": "long", "float": "double", "bool": "boolean", "category": "string",
                 "text": "string", "string": "string", "datetime": "datetime"}  # fmt: skip


def import_mlflow(feature: str = "MLflow export") -> Any:
    """`mlflow`, or MissingDependencyError with the install hint."""
    try:
        import mlflow
    except ImportError:
        raise MissingDependencyError("mlflow", extra="mlflow", feature=feature) from None
    return mlflow


def export_mlflow(
    ref: str | Path,
    path: str | Path,
    *,
    store: str | Path | Store | None = None,
    trust: list[str] | None = None,
) -> Path:
    """Write a version as an MLflow model folder (see the module docstring for what it holds).

    Args:
        ref: ``name``, ``name:3``, ``name@alias`` or a version folder.
        path: the folder to create; it must not exist yet, or be empty.

    Returns:
        The folder, loadable with ``mlflow.pyfunc.load_model``.

    Raises:
        DataError: the version is an image model, or `path` is a non-empty folder.
        IntegrityError: the version's files do not match its manifest.
        MissingDependencyError: mlflow is not installed.
    """
    from mlpact.model import load

    model = load(ref, store=store, trust=trust or ())
    out = Path(path)
    _check_target(out, model.ref)
    return write_mlflow_model(model, out)


def write_mlflow_model(model: Model, out: Path) -> Path:
    """The MLflow model of an already loaded version, written to `out` (created here)."""
    if getattr(model, "takes_images", False):
        raise DataError(
            f"{model.ref} is an image model; MLflow export supports scikit-learn versions and "
            "PyTorch versions trained on tables.",
            hint="Serve image models with `mlpact serve`, or export the portable bundle with "
            "`mlpact models export MODEL FILE.tar.gz`.",
        )
    import_mlflow()
    import mlflow.sklearn

    dtypes = (model.lineage.get("data") or {}).get("dtypes")
    signature, example = signature_for(model.schema, dtypes), example_rows(model.schema)
    metadata = {"mlpact": {"ref": model.ref, "digest": _digest(model), "schema": model.schema.to_dict()}}
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    common = {"signature": signature, "input_example": example, "metadata": metadata,
              "pip_requirements": _requirements(model)}  # fmt: skip
    try:
        if model.manifest.get("flavor") == "sklearn":
            mlflow.sklearn.save_model(
                model.pipeline, str(tmp), serialization_format="skops",
                skops_trusted_types=list(model.manifest.get("trusted_types", [])), **common,
            )  # fmt: skip
            shutil.copytree(model.path, tmp / VERSION_DIR)
            _use_mlpact_pyfunc(tmp)
        else:
            staged = tmp.with_name(f"{tmp.name}.src") / VERSION_DIR
            shutil.copytree(model.path, staged)
            mlflow.pyfunc.save_model(str(tmp), loader_module=__name__, data_path=str(staged), **common)
            shutil.rmtree(staged.parent)
        if out.exists():
            out.rmdir()
        tmp.replace(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(tmp.with_name(f"{tmp.name}.src"), ignore_errors=True)
    return out


def _digest(model: Model) -> str:
    from mlpact import bundle

    return bundle.manifest_digest(model.path)


def _check_target(out: Path, ref: str) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(
            f"Cannot export {ref} to {str(out)!r}: it exists and is not an empty folder.",
            hint="Name a new folder (MLflow models are folders), or remove this one.",
        )


def _use_mlpact_pyfunc(directory: Path) -> None:
    """Point the pyfunc flavour at this module's `_load_pyfunc` and the embedded mlpact version,
    keeping everything else the sklearn flavour wrote (its env files, example, signature)."""
    import mlflow.pyfunc
    from mlflow.models import Model as MlflowModel

    spec = MlflowModel.load(str(directory / "MLmodel"))
    old = spec.flavors.pop("python_function")
    mlflow.pyfunc.add_to_model(spec, loader_module=__name__, data=VERSION_DIR, env=old.get("env"))
    spec.save(str(directory / "MLmodel"))


def _requirements(model: Model) -> list[str]:
    """Pinned requirements of the pyfunc (given, so MLflow does not load the model to infer them)."""
    from mlpact.lineage import package_versions

    names = ["mlflow", "scikit-learn", "skops", "pandas", "pyarrow", "numpy", "scipy"]
    if model.manifest.get("flavor") == "torch":
        names += ["torch", "safetensors"]
    return [f"{k}=={str(v).split('+')[0]}" for k, v in package_versions(tuple(names)).items() if v]


# --------------------------------------------------------------------------- signature
def signature_for(schema: Schema, dtypes: Mapping[str, str] | None = None) -> Any:
    """An MLflow ModelSignature from an mlpact schema: column names, types, required columns.

    A column's type is what the training data held (`dtypes`, the pandas dtypes lineage.json
    records), because MLflow refuses anything it cannot cast safely: integral floats are
    `double`, not `long`. Where MLflow has no type for what the data held or mlpact accepts (an int
    or bool column with missing values: floats with NaN, pandas' Int64 or boolean, objects; a
    category dtype; dates written as text; time zones) the column is `any`, and mlpact's own
    schema (in the model's metadata) checks it when the pyfunc predicts. Without recorded dtypes
    (older versions) the schema's types decide.
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec
    from mlflow.types.schema import Schema as MlflowSchema

    inputs = MlflowSchema(
        [
            ColSpec(_column_type(c, (dtypes or {}).get(c.name)), c.name, required=not c.nullable)
            for c in schema.columns
        ]
    )
    return ModelSignature(inputs=inputs, outputs=MlflowSchema([ColSpec(_output_type(schema), "prediction")]))


def _column_type(col: Any, dtype: str | None) -> Any:
    from mlflow.types import schema as mlflow_types

    AnyType: Any = mlflow_types.AnyType  # untyped in mlflow
    if dtype is None:
        return "double" if col.type == "int" and col.nullable else _MLFLOW_TYPES[col.type]
    found = _numpy_kind(dtype)
    if col.nullable and col.type in ("int", "bool"):
        return AnyType()  # MLflow has no nullable integer or boolean (floats with NaN, Int64, objects)
    if col.type == "datetime":
        return "datetime" if found == "M" else AnyType()
    by_kind = {"i": "long", "u": "long", "f": "double", "b": "boolean"}
    if found in by_kind:
        return by_kind[found]
    if found == "O" or dtype in ("string", "str"):
        return "boolean" if col.type == "bool" else "string"
    return AnyType()


def _numpy_kind(dtype: str) -> str | None:
    """The numpy kind of a recorded dtype name; None for pandas' own (Int64, category, ...)."""
    import numpy as np

    try:
        return str(np.dtype(dtype).kind)
    except TypeError:
        return None


def _output_type(schema: Schema) -> str:
    target = schema.target
    if target is None or target.task != "classification" or not target.classes:
        return "double"
    if all(isinstance(c, bool) for c in target.classes):
        return "boolean"
    if all(isinstance(c, int) for c in target.classes):
        return "long"
    return "string"


def example_rows(schema: Schema, rows: int = EXAMPLE_ROWS) -> pd.DataFrame:
    """A few valid input rows built from the schema: numbers across their observed range, the
    first categories, alternating booleans, a fixed date (versions keep no training rows)."""
    import pandas as pd

    return pd.DataFrame({c.name: _example_values(c, rows) for c in schema.columns})


def _example_values(col: Any, rows: int) -> list[Any] | np.ndarray:
    import numpy as np
    import pandas as pd

    if col.type in ("int", "float"):
        lo = col.min if col.min is not None else 0.0
        hi = col.max if col.max is not None else lo + 1.0
        values = np.linspace(lo, hi, rows + 2)[1:-1]
        return np.round(values) if col.type == "int" else values
    if col.type == "bool":
        return [i % 2 == 0 for i in range(rows)]
    if col.type == "datetime":
        return list(pd.date_range("2024-01-01", periods=rows, freq="D"))
    if col.categories:
        return [str(col.categories[i % len(col.categories)]) for i in range(rows)]
    return [f"example {i}" for i in range(rows)]


# --------------------------------------------------------------------------- the pyfunc loader
class _Pyfunc:
    """What `mlflow.pyfunc.load_model` wraps: an mlpact Model predicting through its contract."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        return self.model.predict(model_input)

    def get_raw_model(self) -> Model:
        return self.model


def _load_pyfunc(path: str) -> _Pyfunc:
    """MLflow's loader hook (`loader_module` in MLmodel): verify and load the embedded version."""
    from mlpact.model import load

    return _Pyfunc(load(Path(path)))

"""Your own training, versioned like mlpact's: `mlpact.save` and `mlpact.run` (the notebook path).

`save` turns a model fitted anywhere (a scikit-learn estimator or pipeline, or a PyTorch
`nn.Module` taking a table of numbers) into a normal version: input schema inferred from the
training data, metrics (given, and/or scored once on test data with mlpact's metrics), lineage
(data fingerprints, git, package versions, your code's source hashes), card and report, under
the same trust rule and integrity checks as a version `mlpact train` made. It is finalized by
`mlpact.version.write.finalize_version`, the one way every version is finalized, and marked as of external
origin (lineage ``origin: external``): mlpact did not train it, so `mlpact reproduce` refuses it.

`run` records a run from your own loop in the store's run history (`mlpact runs list`): params,
metrics per step, succeeded or failed, and the version it saved.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlpact._core import files
from mlpact._core.lineage import environment, git_state
from mlpact._core.metrics import MetricsFile, finite_json, metrics_for, plain, primary_metric
from mlpact._core.plots import write_plots
from mlpact.config import import_paths, validate_config
from mlpact.data import reference
from mlpact.errors import DataError
from mlpact.external.flavors import External, SklearnExternal, TorchExternal, is_torch_module
from mlpact.learn.scoring import assess
from mlpact.store import Store, VersionRecord, check_name
from mlpact.version import bundle, usercode
from mlpact.version.write import finalize_version

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.config import Config

ORIGIN = "external"
RUN_KIND = "external"


# --------------------------------------------------------------------------- what is saved
@dataclass(frozen=True)
class SaveRequest:
    """A model trained outside mlpact and what to save with it (the arguments of :func:`save`)."""

    fitted: Any
    name: str
    train_data: Any = None
    test_data: Any = None
    target: str | None = None
    metrics: Mapping[str, Any] | None = None
    config: Mapping[str, Any] | None = None
    trust: tuple[str, ...] = ()
    init_kwargs: Mapping[str, Any] | None = None
    classes: Iterable[Any] | None = None
    preprocessor: Any = None
    kind: str = "table"
    transforms: Sequence[Mapping[str, Any] | str] | None = None
    example_input: Any = None


# --------------------------------------------------------------------------- runs
class Run:
    """A run of your own training loop, recorded in the store while it runs."""

    def __init__(self, store: Store, name: str, run_id: str) -> None:
        self.store = store
        self.name = name
        self.id = run_id
        self.version: VersionRecord | None = None

    def __repr__(self) -> str:
        return f"Run({self.id!r}, name={self.name!r})"

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Record a metric's value (at a step, e.g. an epoch); `runs show` lists the latest."""
        self.store.log_metric(self.id, str(key), _number(key, value), step=step)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Record several metrics at once (at the same step)."""
        for key, value in metrics.items():
            self.log_metric(key, value, step=step)

    def log_param(self, key: str, value: Any) -> None:
        """Record a parameter of the run (a hyperparameter, a data choice)."""
        self.store.log_params(self.id, {str(key): _loggable(value)})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record several parameters at once."""
        self.store.log_params(self.id, {str(k): _loggable(v) for k, v in params.items()})

    def save(self, fitted: Any, name: str | None = None, **kwargs: Any) -> VersionRecord:
        """Save `fitted` as a version made by this run (arguments as :func:`save`); its test
        metrics join the run's, as they do for runs of `mlpact train`."""
        trust = tuple(kwargs.pop("trust", ()))
        request = SaveRequest(fitted, name or self.name, trust=trust, **kwargs)
        self.version = _save(self.store, request, run_id=self.id)

        self.log_metrics(files.read_json(self.version.path, "metrics.json").get("test") or {})
        return self.version


@contextmanager
def run(
    name: str, *, params: Mapping[str, Any] | None = None, store: str | Path | Store | None = None
) -> Iterator[Run]:
    """Record a run of your own training code in the store's run history.

    Example::

        with mlpact.run("churn", params={"lr": 0.01}) as r:
            for epoch in range(10):
                r.log_metric("loss", train_one_epoch(), step=epoch)
            r.save(model, train_data=train, test_data=test, target="churned")

    Args:
        name: the model name the run belongs to.
        params: parameters recorded with the run.
        store: the store (default ``$MLPACT_HOME`` or ``./.mlpact``).

    Yields:
        The :class:`Run`; it is recorded as succeeded when the block ends, and as failed (with
        the exception) when the block raises.
    """
    st = Store.open(store)
    check_name(name)
    clean = {str(k): _loggable(v) for k, v in (params or {}).items()}
    current = Run(st, name, st.start_run(name, kind=RUN_KIND, params=clean))
    try:
        yield current
    except BaseException as exc:
        st.finish_run(
            current.id,
            status="failed",
            metrics=st.run(current.id)["metrics"],
            error=f"{type(exc).__name__}: {exc}",
            version=current.version.version if current.version else None,
        )
        raise
    st.finish_run(
        current.id,
        status="succeeded",
        metrics=st.run(current.id)["metrics"],
        version=current.version.version if current.version else None,
    )


def _number(key: str, value: Any) -> float:
    value = plain(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"Metric {key!r} must be a number, got {type(value).__name__} {value!r}.")
    return float(value)


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") and not hasattr(value, "__len__") else value
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _loggable(value: Any) -> Any:
    """A param value as the run record keeps it: plain JSON, else its repr."""
    value = value if hasattr(value, "__len__") else plain(value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


# --------------------------------------------------------------------------- saving
def save(
    fitted: Any,
    name: str,
    *,
    train_data: Any = None,
    test_data: Any = None,
    kind: Literal["table", "image"] = "table",
    transforms: Sequence[Mapping[str, Any] | str] | None = None,
    example_input: Any = None,
    target: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    trust: Iterable[str] = (),
    init_kwargs: Mapping[str, Any] | None = None,
    classes: Iterable[Any] | None = None,
    preprocessor: Any = None,
    store: str | Path | Store | None = None,
) -> VersionRecord:
    """Save a model you trained yourself as a new version (recorded as an external run).

    Example (an image CNN from your own loop)::

        mlpact.save(model, "food", kind="image", classes=["pizza", "steak", "sushi"],
                    transforms=[{"type": "resize", "size": 64}, {"type": "to_tensor"}],
                    init_kwargs={"hidden_units": 10}, test_data="data/test")

    Args:
        fitted: a fitted scikit-learn estimator or pipeline (taking the input columns), or a
            `torch.nn.Module` whose forward takes a float tensor of the (preprocessed) columns,
            or (``kind="image"``) a batch of images (N x C x H x W, after `transforms`).
        name: the model name in the store.
        train_data: the data it was trained on, target included: a DataFrame with a `target`
            column, or an ``(X, y)`` pair (X a DataFrame or a 2-D array, whose columns are then
            named x0, x1, ...). The input schema is inferred from it. Required for tables.
            Images: optional, a folder of class folders (fingerprinted, and summarised for
            `mlpact check`).
        test_data: held-out data in the same form (images: a folder of class folders), scored
            once with mlpact's metrics.
        kind: ``table`` (rows of columns) or ``image`` (a classifier of image files).
        transforms: (images) the steps that turn an image file into the module's input, as
            `train.transforms` entries (``{"type": "resize", "size": 64}``, ``"to_tensor"``,
            ``{"type": "normalize", "mean": [...], "std": [...]}``, your own by import path with
            ``random: false``); what predicting and serving apply. Random steps are refused.
        example_input: (images) one input as the module takes it (C x H x W, or a batch):
            checked against what `transforms` make of a real image.
        target: the target column (required with DataFrames; default name for ``(X, y)``: ``target``).
        metrics: metrics you computed (name -> number); the version's test metrics when no
            `test_data` is given, kept beside them (as ``given``) otherwise.
        config: mlpact config keys to save with the version (e.g. ``validation``, ``description``,
            ``evaluate.metrics``, ``code.on_change``); validated, a typo is an error. `model` and
            `data.target` are taken from `fitted` and the data.
        trust: import paths of your own classes inside `fitted` (e.g. ``mypkg.features:AddRatios``)
            that loading may rebuild; recorded in the store's index.
        init_kwargs: (torch) the keyword arguments that rebuild the module (`Class(**init_kwargs)`).
        classes: (torch classifiers) the class of each output, in order (default: sorted labels).
        preprocessor: (torch) a fitted scikit-learn transformer from columns to the module's
            input (default: the numeric columns as they are).
        store: the store (default ``$MLPACT_HOME`` or ``./.mlpact``).

    Returns:
        The new version.

    Raises:
        DataError: the data or metrics are not usable, or the model cannot be rebuilt from what
            is saved (a class defined in ``__main__``, missing `init_kwargs`).
        ConfigError: `config` is invalid.
        UntrustedTypesError: `fitted` holds types outside the trust rule (pass them in `trust`).
    """
    with run(name, store=store) as current:
        return current.save(
            fitted, train_data=train_data, test_data=test_data, target=target, metrics=metrics,
            config=config, trust=tuple(trust), init_kwargs=init_kwargs, classes=classes,
            preprocessor=preprocessor, kind=kind, transforms=transforms,
            example_input=example_input,
        )  # fmt: skip


def _save(store: Store, request: SaveRequest, *, run_id: str) -> VersionRecord:
    fitted, name = request.fitted, request.name
    train_data, test_data, classes = request.train_data, request.test_data, request.classes
    metrics, config, init_kwargs = request.metrics, request.config, request.init_kwargs
    kind, transforms, example_input = request.kind, request.transforms, request.example_input
    torch_module = is_torch_module(fitted)
    if kind not in ("table", "image"):
        raise DataError(f"kind: expected 'table' or 'image', got {kind!r}.")
    if kind == "image":
        return _save_image(store, name, fitted, run_id=run_id, transforms=transforms, classes=classes,
                           init_kwargs=init_kwargs, example_input=example_input, train_data=train_data,
                           test_data=test_data, metrics=metrics, config=config)  # fmt: skip
    if transforms is not None or example_input is not None:
        raise DataError("transforms= and example_input= are for kind='image'; this saves a table model.")
    if train_data is None:
        raise DataError(
            "train_data is required for a table model: the input schema is inferred from it.",
            hint="Pass train_data=(X, y) or a DataFrame with target=...; for an image model, kind='image'.",
        )
    if not torch_module and not hasattr(fitted, "predict"):
        raise DataError(
            f"Expected a fitted scikit-learn estimator or pipeline, or a torch.nn.Module; "
            f"got {type(fitted).__module__}.{type(fitted).__qualname__}, which has no predict()."
        )
    trust = sorted(set(request.trust))
    X, y, tname = _xy(request.train_data, request.target, "train_data")
    test = _xy(request.test_data, tname, "test_data") if request.test_data is not None else None
    given = _given_metrics(request.metrics)
    if torch_module:
        job: External = TorchExternal(fitted, request.init_kwargs, request.classes, request.preprocessor)
    else:
        job = SklearnExternal(fitted)
    cfg = _config(name, job, tname, y, request.config)
    job.prepare(cfg, X, y)
    model_params = {f"model.params.{k}": v for k, v in cfg.public("model.params").items()}
    store.log_params(run_id, {"model.type": cfg.model.type, **model_params})  # as `mlpact train` runs
    tmp = store.new_tmp_dir()
    try:
        return _write(store, tmp, cfg, job, X, y, test, given, trust, run_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write(
    store: Store,
    tmp: Path,
    cfg: Config,
    job: External,
    X: pd.DataFrame,
    y: pd.Series,
    test: tuple[pd.DataFrame, pd.Series, str] | None,
    given: dict[str, float],
    trust: list[str],
    run_id: str,
) -> VersionRecord:

    named = [*import_paths(cfg.to_dict()), *trust]
    trusted = job.dump(tmp, named)
    schema = job.schema
    scored = _metrics(cfg, job, tmp, test, given, rows=len(X))
    files.write_json(tmp / "schema.json", schema.to_dict())

    stats = reference.build_from(job.frame(X), schema, cfg.data.task, job.predictor(), bins=cfg.check.bins)
    files.write_json(tmp / reference.FILE, stats)  # what `mlpact check` judges drift against
    files.write_json(tmp / "metrics.json", finite_json(scored))
    files.write_bytes(tmp / "config.yaml", cfg.to_yaml().encode())
    lineage = _lineage(cfg, job, X, y, test, named, run_id)
    files.write_json(tmp / "lineage.json", lineage)
    hashes = bundle.hash_files(tmp)

    def finalize(directory: Path, version: int) -> dict[str, Any]:
        return finalize_version(
            directory, version, cfg=cfg, flavor=job.flavor, schema=schema.to_dict(), metrics=scored,
            lineage=lineage, hashes=hashes, trusted=trusted, trust=trust,
        )  # fmt: skip

    return store.register(cfg.name, tmp, finalize, flavor=job.flavor, run_id=run_id, origin=ORIGIN)


def _save_image(
    store: Store, name: str, fitted: Any, *, metrics: Mapping[str, Any] | None, **kwargs: Any
) -> VersionRecord:
    if not is_torch_module(fitted):
        raise DataError(
            f"kind='image' saves a torch.nn.Module; got {type(fitted).__module__}."
            f"{type(fitted).__qualname__}."
        )
    from mlpact.external.torch_models import save_image_model

    record = save_image_model(store, name, fitted, metrics=_given_metrics(metrics), **kwargs)
    store.log_params(
        kwargs["run_id"], {"model.type": f"{type(fitted).__module__}:{type(fitted).__qualname__}"}
    )
    return record


# --------------------------------------------------------------------------- data and config
def _xy(data: Any, target: str | None, what: str) -> tuple[pd.DataFrame, pd.Series, str]:
    """Normalise a DataFrame with a target column, or an (X, y) pair, to (X, y, target name)."""
    import pandas as pd

    if isinstance(data, tuple) and len(data) == 2:
        X, y = data
        X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X).rename(columns=lambda c: f"x{c}")
        y = y if isinstance(y, pd.Series) else pd.Series(y)
        name = target or (str(y.name) if y.name is not None else "target")
        if len(X) != len(y):
            raise DataError(f"{what}: X has {len(X)} rows but y has {len(y)}; expected the same number.")
        return X.reset_index(drop=True), y.reset_index(drop=True).rename(name), name
    if isinstance(data, pd.DataFrame):
        if target is None:
            raise DataError(
                f"{what} is a DataFrame, so mlpact needs to know which column is the target.",
                hint="Pass target='COLUMN', or pass (X, y).",
            )
        if target not in data.columns:
            raise DataError(
                f"{what} has no target column {target!r}; its columns: {sorted(map(str, data.columns))!r}."
            )
        return data.drop(columns=[target]).reset_index(drop=True), data[target].reset_index(drop=True), target
    raise DataError(
        f"{what}: expected a pandas DataFrame (with target=...) or an (X, y) pair, got {type(data).__name__}."
    )


def _given_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    out = {str(k): _number(str(k), v) for k, v in (metrics or {}).items()}
    return out


def _config(name: str, job: External, target: str, y: pd.Series, overlay: Mapping[str, Any] | None) -> Config:
    """The version's config: your keys, with `model` and `data` describing what was saved."""
    from mlpact.data.sources import infer_task

    raw: dict[str, Any] = json.loads(json.dumps(dict(overlay or {}), default=str))
    for key in ("model", "name"):
        if key in raw:
            raise DataError(
                f"config: {key!r} is taken from what you save, not given (found {key}: {raw[key]!r}).",
                hint="Remove it from config=; the name is save()'s second argument.",
            )
    data = dict(raw.get("data") or {})
    task = job.task() or infer_task(y, str(data.get("task", "auto")))
    data.update(source=str(data.get("source") or ORIGIN), target=target, task=task)
    raw.update(name=name, data=data, model={"type": job.model_type(), "params": job.params()})
    return validate_config(raw, label=f"mlpact.save({name!r}, config=...)")


def _metrics(
    cfg: Config,
    job: External,
    tmp: Path,
    test: tuple[pd.DataFrame, pd.Series, str] | None,
    given: dict[str, float],
    *,
    rows: int,
) -> MetricsFile:
    task, ev = cfg.data.task, cfg.evaluate
    out: MetricsFile = {"task": task, "cv": {"folds": 0, "metrics": {}}, "test_scored": 0, "plots": []}
    out["rows"] = {"train": rows, "test": len(test[0]) if test else 0}
    if test is not None:
        names = metrics_for(task, ev.metrics)
        scored, found = assess(job.predictor(), job.frame(test[0]), test[1], names, task=task)
        out["test"], out["test_scored"] = scored["metrics"], 1
        if "per_class" in scored:
            out["per_class"] = scored["per_class"]
        if ev.plots:
            out["plots"] = write_plots(found, tmp / "reports", task=task)
        if given:
            out["given"] = given
    else:
        out["test"] = given
    default = primary_metric(task, ev.primary)
    keep = ev.primary or default in out["test"] or not out["test"]
    out["primary"] = default if keep else next(iter(out["test"]))  # given metrics: the first one
    return out


def _lineage(
    cfg: Config,
    job: External,
    X: pd.DataFrame,
    y: pd.Series,
    test: tuple[pd.DataFrame, pd.Series, str] | None,
    named: list[str],
    run_id: str,
) -> dict[str, Any]:
    from mlpact.data.sources import fingerprint

    data: dict[str, Any] = {
        "source": cfg.data.source, "fingerprint": fingerprint(X.assign(**{cfg.data.target: y})),
        "rows": len(X) + (len(test[0]) if test else 0), "split": "given", "train_rows": len(X),
        "test_rows": len(test[0]) if test else 0, "dtypes": {str(c): str(t) for c, t in X.dtypes.items()},
    }  # fmt: skip
    if test is not None:
        data["test_fingerprint"] = fingerprint(test[0].assign(**{cfg.data.target: test[1]}))
    code = usercode.describe([p for p in named if _importable_path(p)])
    return {
        "origin": ORIGIN, "data": data, "seed": cfg.seed, "config_hash": cfg.hash(), "run_id": run_id,
        "warnings": [], "timings_s": {}, "git": git_state(Path.cwd()), "code": code,
        "environment": environment(job.packages), "model": job.describe(),
    }  # fmt: skip


def _importable_path(path: str) -> bool:
    import importlib

    module = path.partition(":")[0] if ":" in path else path.rpartition(".")[0]
    try:
        importlib.import_module(module)
    except (ImportError, ValueError):
        return False
    return True

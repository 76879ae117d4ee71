"""Mirror training and tuning runs to an MLflow tracking server (the `tracking:` config section).

With `tracking.mlflow_uri` set, every recorded training run (scikit-learn and PyTorch, including
the one `tune --train-best` makes) is also an MLflow run: params (the resolved config flattened to
key paths, secrets as ``***``), metrics (cross-validation, validation, test, baseline, per-epoch
PyTorch history), the version's plots as artifacts and, with `tracking.log_model`, the version as
an MLflow model (the `models export --format mlflow` folder). A tuning study is one MLflow run with
every trial's value and the best parameters. The MLflow run id is recorded in mlpact's run record
(`runs show`, `models show`).

MLflow is a mirror, never a dependency of saving: when the server cannot be reached or a call
fails, a warning says so and the mlpact version is saved all the same. mlflow is imported only
when tracking is configured.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlpact.errors import DataError, TrackingWarning
from mlpact.version.mlflow import import_mlflow, write_mlflow_model

if TYPE_CHECKING:
    from mlpact._core.metrics import MetricsFile
    from mlpact.config import Config
    from mlpact.store import VersionRecord

RUN_ID_PARAM = "mlflow.run_id"
URI_PARAM = "mlflow.tracking_uri"
_MAX_PARAM = 6000  # MLflow's limit on a param value


class Trained(Protocol):
    """What a tracker reads of a training's result (`mlpact.training.TrainResult`)."""

    metrics: MetricsFile
    run_id: str
    version: VersionRecord
    warnings: list[str]

    @property
    def ref(self) -> str: ...

    @property
    def path(self) -> Path: ...


class Study(Protocol):
    """What `track_tune` reads of a study (`mlpact.tune.TuneResult`)."""

    study: str
    metric: str
    backend: str
    best_value: float
    best_params: dict[str, Any]
    best_yaml: Path
    trials: list[dict[str, Any]]
    plots: list[Path]


class Tracker:
    """One MLflow run mirroring one mlpact run; does nothing when tracking is not configured."""

    def __init__(self, cfg: Config, *, kind: str = "train") -> None:
        self.cfg, self.kind = cfg, kind
        self.uri = cfg.tracking.mlflow_uri
        self.client: Any = None
        self.run_id: str | None = None
        self.warnings: list[str] = []

    @classmethod
    def start(cls, cfg: Config, *, kind: str = "train") -> Tracker:
        """Start the MLflow run (params and tags logged now), or a no-op tracker."""
        tracker = cls(cfg, kind=kind)
        if tracker.uri:
            tracker._guard("start an MLflow run", tracker._start)
        return tracker

    @property
    def ids(self) -> dict[str, str]:
        """What mlpact's run record keeps about the MLflow run (empty without one)."""
        return {RUN_ID_PARAM: self.run_id, URI_PARAM: str(self.uri)} if self.run_id else {}

    def succeeded(self, result: Trained) -> None:
        """Log the version's metrics, plots and model, and finish the MLflow run."""
        if self.run_id:
            self._guard("log the version to MLflow", lambda: self._log_version(result))
            self._guard("finish the MLflow run", lambda: self._end("FINISHED"))
        result.warnings.extend(w for w in self.warnings if w not in result.warnings)

    def failed(self, error: BaseException) -> None:
        """Mark the MLflow run failed, with the error as a tag."""
        if self.run_id:
            self._guard("mark the MLflow run failed", lambda: self._fail(error))

    # ----------------------------------------------------------------------- internals
    def _guard(self, what: str, fn: Any) -> None:
        try:
            fn()
        except Exception as exc:  # a tracking failure must never lose the mlpact version
            message = (
                f"MLflow tracking at {self.uri} failed: could not {what} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
                "The mlpact run and version are recorded in the store as usual."
            )
            self.warnings.append(message)
            warnings.warn(message, TrackingWarning, stacklevel=3)
            if self.run_id and what.startswith("log"):
                self._guard("mark the MLflow run failed", lambda: self._end("FAILED"))
            if what.startswith("start"):
                self.run_id = None

    def _start(self) -> None:

        import_mlflow("MLflow tracking (tracking.mlflow_uri)")
        from mlflow import MlflowClient

        _check_reachable(str(self.uri))
        self.client = MlflowClient(tracking_uri=self.uri)
        experiment_id = _experiment(self.client, self.cfg.tracking.experiment or self.cfg.name)
        tags = {"mlpact.name": self.cfg.name, "mlpact.kind": self.kind,
                "mlpact.config_hash": self.cfg.hash(), **self.cfg.tracking.tags}  # fmt: skip
        run = self.client.create_run(experiment_id, run_name=f"{self.cfg.name}-{self.kind}", tags=tags)
        self.run_id = run.info.run_id
        self._log(params=flatten(self.cfg.to_dict()))

    def _log(
        self,
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, Any] | None = None,
        steps: list[tuple[str, float, int]] | None = None,
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = _millis()
        self.client.log_batch(
            self.run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()]
            + [Metric(k, float(v), now, step) for k, v, step in steps or []],
            params=[Param(k, str(v)[:_MAX_PARAM]) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)[:_MAX_PARAM]) for k, v in (tags or {}).items()],
        )

    def _log_version(self, result: Trained) -> None:
        self._log(
            metrics=version_metrics(result.metrics),
            steps=history_steps(result.path),
            tags={
                "mlpact.version": result.ref,
                "mlpact.run_id": result.run_id,
                "mlpact.flavor": result.version.flavor,
            },
        )
        reports = result.path / "reports"
        if reports.is_dir() and any(reports.iterdir()):
            self.client.log_artifacts(self.run_id, str(reports), "plots")
        if self.cfg.tracking.log_model:
            self._log_model(result)

    def _log_model(self, result: Trained) -> None:
        from mlpact.version.load import load

        with tempfile.TemporaryDirectory(prefix="mlpact-mlflow-") as tmp:
            try:
                folder = write_mlflow_model(load(result.path), Path(tmp) / "model")
            except DataError as exc:  # image models have no MLflow export
                self._log(tags={"mlpact.model_logged": f"no: {exc.message}"})
                return
            self.client.log_artifacts(self.run_id, str(folder), "model")
        self._log(tags={"mlpact.model_logged": "yes", "mlpact.model_uri": f"runs:/{self.run_id}/model"})

    def _fail(self, error: BaseException) -> None:
        self._log(tags={"mlpact.error": f"{type(error).__name__}: {error}"})
        self._end("FAILED")

    def _end(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status)


def track_tune(cfg: Config, result: Study) -> str | None:
    """Log a tuning study as one MLflow run (each trial's value by trial number, the best params,
    the plots); returns its run id, or None when tracking is off or failed (with a warning)."""
    tracker = Tracker.start(cfg, kind="tune")
    if not tracker.run_id:
        return None

    def log() -> None:
        done = [t for t in result.trials if t.get("state") == "COMPLETE" and t.get("value") is not None]
        tracker._log(
            params={f"best.{k}": v for k, v in result.best_params.items()},
            metrics={f"best.{result.metric}": result.best_value, "trials": len(result.trials)},
            steps=[(f"trial.{result.metric}", float(t["value"]), int(t["number"])) for t in done],
            tags={"mlpact.study": result.study, "mlpact.backend": result.backend},
        )
        for plot in result.plots:
            tracker.client.log_artifact(tracker.run_id, str(plot), "plots")
        tracker.client.log_artifact(tracker.run_id, str(result.best_yaml))
        tracker._end("FINISHED")

    tracker._guard("log the study to MLflow", log)
    return tracker.run_id


# --------------------------------------------------------------------------- pure helpers
def flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """Nested config data as ``key.path -> value`` (lists as JSON), the way MLflow params are."""
    from mlpact.config import key_paths

    return {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in key_paths(data).items()}


def version_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a version's metrics.json worth charting: test, validation, CV mean/std and
    the baseline's test metrics, as ``test.accuracy``, ``cv.accuracy.mean``, ..."""
    out: dict[str, float] = {}
    for split in ("test", "validation"):
        out.update({f"{split}.{k}": v for k, v in _numbers(metrics.get(split) or {})})
    for name, stats in ((metrics.get("cv") or {}).get("metrics") or {}).items():
        out.update({f"cv.{name}.{k}": v for k, v in _numbers(stats) if k in ("mean", "std")})
    baseline = (metrics.get("baseline") or {}).get("test") or {}
    out.update({f"baseline.test.{k}": v for k, v in _numbers(baseline)})
    return out


def history_steps(version: Path) -> list[tuple[str, float, int]]:
    """PyTorch per-epoch history (loss, accuracy, val_loss, ...) as (metric, value, epoch)."""
    path = version / "history.json"
    if not path.exists():
        return []
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [(f"epoch.{k}", v, int(row["epoch"])) for row in rows for k, v in _numbers(row) if k != "epoch"]


def _numbers(data: Mapping[str, Any]) -> Iterator[tuple[str, float]]:
    import math

    for key, value in data.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            yield key, float(value)


def _experiment(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return str(found.experiment_id if found is not None else client.create_experiment(name))


def _check_reachable(uri: str, timeout: float = 3.0) -> None:
    """Fail fast on an HTTP server that does not answer (MLflow's own client retries for minutes)."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.request

    with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout):
        pass


def _millis() -> int:
    import time

    return int(time.time() * 1000)

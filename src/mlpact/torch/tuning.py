"""One tuning trial of a PyTorch config: train on the fitting split, score the validation split
after every epoch, report it to the pruner.

The validation split is the one `mlpact train` carves from the training data (`train.val_size`,
stratified and seeded): the same rows for every trial, and never the test split. A trial's value
is the tuned metric at the epoch whose weights training keeps (the best validation epoch with
`train.restore_best`, else the last). Each process loads the data once and reuses it for its
trials; only the `train:` and `model.params` keys of the space change between them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpact.errors import ConfigError, UserCodeError
from mlpact.torch._deps import require

if TYPE_CHECKING:
    from mlpact.config import Config
    from mlpact.torch.training import Data

torch = require("torch")

Report = Any  # Callable[[float, int], None], raising to prune


class TrialFailed(ValueError):
    """A trial whose module, loss or transforms raised: recorded as a failed trial, the study goes on."""


def check_space(cfg: Config) -> None:
    """Build each extreme of the space into a trial config, and check `model.params` names
    against the module's constructor and torch class names in the space, before any trial.

    Raises:
        ConfigError: a key's value is invalid, or a name is not the module's or torch's.
    """
    from mlpact.torch.parts import resolve
    from mlpact.torch.saving import module_class, resolve_kwargs
    from mlpact.tune._objective import corner_values, trial_config

    if cfg.train.val_size <= 0:
        raise ConfigError(
            ["train.val_size: tuning a PyTorch model scores each trial on the validation split; set it > 0"]
        )
    cls = module_class(cfg.model.type, near=cfg.base_dir)
    libraries = {
        "train.optimizer": torch.optim,
        "train.loss": torch.nn,
        "train.scheduler": torch.optim.lr_scheduler,
    }
    for key, param in cfg.tune.space.items():
        for value in corner_values(param):
            trial = trial_config(cfg, {key: value})
            resolve_kwargs(cls, trial.model.params, {})
            if key in libraries and isinstance(value, str) and value[:1].isupper():
                resolve(value, key=key, library=libraries[key])


def threads_per_job(jobs: int) -> int:
    """CPU threads each of `jobs` trial processes gets: the cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // max(jobs, 1))


@dataclass
class TorchObjective:
    """What every PyTorch trial shares: the config, the metric, and its process's data."""

    cfg: Config
    metric: str
    jobs: int = 1
    _data: dict[str, Data] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:  # worker processes load the data themselves
        return {**self.__dict__, "_data": {}}

    def __call__(self, trial: Any) -> float:
        """Optuna's objective: sample, train with per-epoch reports to the pruner."""
        import optuna

        from mlpact.tune._objective import suggest

        def report(value: float, step: int) -> None:
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {step + 1} ({self.metric} {value:.4g})")

        params = suggest(trial, self.cfg.tune.space)
        try:
            return self.evaluate(params, report=report)
        except (ValueError, UserCodeError) as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            raise TrialFailed(str(exc)) from exc

    def data(self, cfg: Config) -> Data:
        """The splits, loaded once per process (per transforms, when the space changes them)."""
        from mlpact.torch.training import load_data

        key = repr(cfg.to_dict().get("train", {}).get("transforms"))
        if key not in self._data:
            self._data[key] = load_data(cfg, lineage=False)
        return self._data[key]

    def evaluate(self, params: Mapping[str, Any], *, report: Report) -> float:
        """The tuned metric on the validation split at the epoch training keeps."""
        from mlpact.progress import Silent
        from mlpact.torch.training import fit_module
        from mlpact.tune._objective import trial_config

        cfg = trial_config(self.cfg, dict(params))
        data = self.data(cfg)
        scores: dict[int, float] = {}

        def on_epoch(row: Mapping[str, Any], model: Any) -> None:
            scores[row["epoch"]] = _validation_score(model, data, cfg, self.metric, row)
            report(scores[row["epoch"]], row["epoch"] - 1)

        threads = cfg.train.threads or threads_per_job(self.jobs)
        fitted = fit_module(cfg, data, progress=Silent(), threads=threads, on_epoch=[on_epoch])
        value = scores.get(fitted.result.best_epoch, math.nan)
        if not math.isfinite(value):
            raise TrialFailed(f"{self.metric} is not a number on the validation split")
        return value


def _validation_score(model: Any, data: Data, cfg: Config, metric: str, row: Mapping[str, Any]) -> float:
    """The metric on the validation split, from the epoch's row when it has it, else predicted."""
    from mlpact.metrics import compute_metrics

    if metric == "accuracy" and row.get("val_accuracy") is not None:
        return float(row["val_accuracy"])
    outputs, labels = _outputs(model, data.val, cfg.train.batch_size)
    if data.task == "classification":
        proba = torch.softmax(torch.from_numpy(outputs), dim=1).numpy()
        classes = list(range(proba.shape[1]))
        return float(compute_metrics([metric], labels, proba.argmax(axis=1), proba, classes)[metric])
    return float(
        compute_metrics([metric], labels, outputs.reshape(len(outputs), -1)[:, 0], None, None)[metric]
    )


def _outputs(model: Any, dataset: Any, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The model's raw outputs on a dataset, and its targets."""
    device = next(iter(model.parameters()), torch.empty(0)).device
    loader = torch.utils.data.DataLoader(dataset, batch_size=max(batch_size, 64), shuffle=False)
    outs, ys = [], []
    model.eval()
    with torch.inference_mode():
        for X, y in loader:
            outs.append(model(X.to(device)).float().cpu().numpy())
            ys.append(np.asarray(y))
    return np.concatenate(outs), np.concatenate(ys)

"""Retrain a saved version from what it recorded, and say whether the result is the same.

:func:`reproduce` re-loads the recorded data source and compares its fingerprint with the one
saved (changed data stops, unless allowed), retrains with the recorded config and seed (a new
version, saved like any other), and compares: the split (train and test fingerprints), every
test metric (within `check.metric_tolerance`), the predictions of both versions on the test
split (`check.agreement`), and the environment (package versions, Python, git commit, dirty
tree). The verdict is `reproduced` or `differs`, with reasons; the comparison is recorded as a
run of kind `reproduce`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlpact._callable import make_callable
from mlpact._core import files
from mlpact._core.lineage import environment, git_state
from mlpact._core.metrics import finite_json
from mlpact._core.progress import Silent
from mlpact.config import thresholds_for
from mlpact.errors import DataChangedError, ExitCode, LibraryVersionError, NotReproducibleError
from mlpact.learn.prepare import prepare
from mlpact.store import Store
from mlpact.torch import is_image_config
from mlpact.training import run
from mlpact.version import usercode
from mlpact.version.inspection import compare_splits

if TYPE_CHECKING:
    from mlpact._core.progress import Progress
    from mlpact.config import CheckConfig, Config
    from mlpact.store import Store
    from mlpact.training import TrainResult
    from mlpact.version.model import Model

EXIT_CODES: dict[str, ExitCode] = {"reproduced": ExitCode.OK, "differs": ExitCode.DIFFERS}


@dataclass
class ReproduceResult:
    """The verdict of a reproduction, the new version, and every comparison behind it."""

    ref: str
    new_ref: str
    verdict: Literal["reproduced", "differs"]
    run_id: str
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    split: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    agreement: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, Any] | None = None
    code: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        """0 when reproduced, 13 when it differs (docs/cli.md)."""
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:

        return finite_json({**self.__dict__, "exit_code": int(self.exit_code)})  # type: ignore[no-any-return]


def reproduce(
    ref: str | Path,
    *,
    store: str | Path | Store | None = None,
    allow_data_change: bool = False,
    thresholds: Mapping[str, Any] | None = None,
    trust: Iterable[str] = (),
    progress: Progress | None = None,
) -> ReproduceResult:
    """Retrain a version from its recorded config, data and seed, and compare with the original.

    Works on a version whose pipeline cannot be loaded here (e.g. saved with another
    scikit-learn major version): everything but the prediction agreement is still compared.

    Args:
        ref: ``name``, ``name:3``, ``name@alias`` or a version folder.
        allow_data_change: retrain even when the data's fingerprint changed (the verdict is then
            `differs`).
        thresholds: overrides of the version's `check:` section (``metric_tolerance``, ``agreement``).

    Raises:
        NotReproducibleError: the version was trained outside mlpact (`mlpact.save`).
        DataChangedError: the data changed and `allow_data_change` is false.
        DataError: the recorded data source cannot be read.
    """

    db = Store.open(store)
    old = _load_saved(ref, db, trust)
    _refuse_external(old)
    settings = thresholds_for(old.config, thresholds)
    cfg = old.recorded_config()
    params = {"reproduces": old.ref, "seed": cfg.seed, "data.source": cfg.data.source}
    run_id = db.start_run(old.name, kind="reproduce", config_hash=cfg.hash(), params=params)
    try:
        result = _reproduce(
            old, cfg, settings, db, run_id, allow=allow_data_change, progress=progress or Silent()
        )
    except BaseException as exc:
        db.finish_run(run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    version = int(result.new_ref.rsplit(":", 1)[1])
    db.finish_run(run_id, status="succeeded", metrics={"verdict": result.verdict}, version=version)
    return result


def _refuse_external(model: Model) -> None:

    if model.lineage.get("origin") == "external":
        raise NotReproducibleError(
            f"Cannot reproduce {model.ref}: it was trained outside mlpact (saved with mlpact.save, "
            "lineage origin: external), so there is no training config or data recipe to re-run.",
            hint="Reproduce it with your own training code; `mlpact models show` lists the data "
            "fingerprints, git commit and package versions it recorded.",
        )


def _load_saved(ref: str | Path, store: Store, trust: Iterable[str]) -> Model:
    """The version, or, when its pipeline cannot be loaded here, everything but the pipeline."""
    from mlpact.version.load import load

    try:
        return load(ref, store=store, trust=trust)
    except LibraryVersionError as exc:
        saved: Model = exc.model
        return saved


def _reproduce(
    old: Model,
    cfg: Config,
    settings: CheckConfig,
    store: Store,
    run_id: str,
    *,
    allow: bool,
    progress: Progress,
) -> ReproduceResult:

    recorded = old.lineage.get("data") or {}
    with progress.stage(f"Re-loading {cfg.data.source}"):  # no ✓ for data that is refused
        lineage, test = _current(cfg)
        same_data = lineage["fingerprint"] == recorded.get("fingerprint")
        if not same_data and not allow:
            raise DataChangedError(old.ref, recorded, lineage)
    torch_version = old.manifest.get("flavor") == "torch"
    threads = _threads(old, cfg) if torch_version else None
    # Recorded as a reproduction (origin `reproduce`): `latest` skips it until it is promoted.
    trained = run(cfg, store=store, progress=progress, threads=threads, lineage_extra={"reproduces": old.ref})
    result = ReproduceResult(old.ref, trained.ref, "reproduced", run_id)
    result.data = {
        "source": lineage.get("resolved"),
        "recorded": recorded.get("fingerprint"),
        "now": lineage["fingerprint"],
        "identical": same_data,
    }
    result.split = compare_split(recorded, lineage)
    _compare_refit(old.lineage, trained, result)

    if (rows := compare_splits(old.path, old.manifest, trained.path)) is not None:  # row by row, by hash
        result.split.update(rows=rows, identical=result.split["identical"] and rows["identical"])
    result.metrics = compare_metrics(
        old.metrics.get("test") or {}, trained.metrics["test"], settings.metric_tolerance
    )
    with progress.stage("Comparing predictions on the test split"):
        result.agreement = _agreement(old, trained, test, store, settings)
    if torch_version:
        from mlpact.torch.reproducing import compare_weights

        result.weights = compare_weights(old.path, trained.path, was=old.lineage, now=_lineage(trained.path))
    result.environment = compare_environment(old.lineage, cfg)
    result.code = usercode.changed(old.lineage.get("code") or [])
    result.reasons = _reasons(result, settings)
    result.notes += _environment_notes(result.environment) + _weights_notes(result.weights) + result.code
    if result.reasons:
        result.verdict = "differs"
    return result


def _current(cfg: Config) -> tuple[dict[str, Any], Any]:
    """The data's lineage as training would record it now, and the test split's inputs (rows,
    or image paths for an image folder)."""

    if is_image_config(cfg):
        from mlpact.torch.training import folder_lineage

        return folder_lineage(cfg)

    data = prepare(cfg)
    return data.lineage, data.frame.iloc[data.split.test]


def _threads(old: Model, cfg: Config) -> int | None:
    """The CPU threads to retrain a PyTorch version with: its config's, else the count it recorded."""
    from mlpact.torch.reproducing import recorded_threads

    return cfg.train.threads or recorded_threads(old.lineage)


def _lineage(path: Path) -> dict[str, Any]:

    return files.read_mapping(path, "lineage.json")


def _weights_notes(weights: Mapping[str, Any] | None) -> list[str]:
    if not weights:
        return []
    if weights["identical"]:
        return ["the weights are bit-identical"]
    diff = weights.get("max_difference")
    size = f" (largest difference {diff:.3g})" if isinstance(diff, float) else ""
    if weights["expected_identical"]:
        return [f"the weights differ{size}"]
    return [f"the weights differ{size}, as they may: " + "; ".join(weights["why_not_exact"])]


def compare_split(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> dict[str, Any]:
    """Whether the train and test splits hold the same rows as when the version was trained."""
    out: dict[str, Any] = {}
    for part in ("train", "test"):
        key = f"{part}_fingerprint"
        out[part] = {
            "recorded": recorded.get(key),
            "now": now.get(key),
            "identical": recorded.get(key) == now.get(key),
        }
    out["identical"] = out["train"]["identical"] and out["test"]["identical"]
    return out


def _compare_refit(lineage: Mapping[str, Any], trained: TrainResult, result: ReproduceResult) -> None:
    """`train.refit: all`: the rows the saved model was refit on, recorded vs now, and a note."""

    was = (lineage.get("refit") or {}).get("saved") or {}
    now = (files.read_mapping(trained.path, "lineage.json").get("refit") or {}).get("saved") or {}
    if not was and not now:
        return
    same = was.get("fingerprint") == now.get("fingerprint")
    result.split["refit"] = {
        "recorded": was.get("fingerprint"),
        "now": now.get("fingerprint"),
        "identical": same,
    }
    result.split["identical"] = result.split["identical"] and same
    result.notes.append(
        "train.refit: all: the saved models were refit on every row after the test score; the test "
        "metrics compared are those of the fits before the refit, the predictions those of the refit models."
    )


def compare_metrics(
    recorded: Mapping[str, Any], now: Mapping[str, Any], tolerance: float
) -> dict[str, dict[str, Any]]:
    """Every recorded test metric beside the retrained one, and whether they agree within `tolerance`."""
    out = {}
    for name, was in recorded.items():
        value = now.get(name)
        missing = _missing(was), _missing(value)
        diff = None if any(missing) else float(value) - float(was)  # type: ignore[arg-type]
        within = all(missing) if any(missing) else abs(diff or 0.0) <= tolerance
        out[name] = {"recorded": was, "now": value, "difference": diff, "within": within}
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _agreement(
    old: Model, trained: TrainResult, rows: Any, store: Store, settings: CheckConfig
) -> dict[str, Any]:
    """How many test rows (or test images) both versions predict the same."""
    import numpy as np

    from mlpact.version.load import load

    if old.pipeline is None:
        return {
            "compared": False,
            "rows": len(rows),
            "fraction": None,
            "note": "the original pipeline cannot be loaded here",
        }
    new = load(trained.ref, store=store)
    a, b = old.predict(rows, check=False), new.predict(rows, check=False)
    if old.task == "classification":
        same = np.asarray(a == b, dtype=bool)
    else:
        tol = settings.metric_tolerance
        same = np.isclose(a.astype(float), b.astype(float), rtol=tol, atol=tol)
    fraction = float(same.mean()) if len(rows) else 1.0
    return {"compared": True, "rows": len(rows), "fraction": fraction, "differing_rows": int((~same).sum())}


def compare_environment(lineage: Mapping[str, Any], cfg: Config) -> dict[str, Any]:
    """Package and Python versions, and the git state, then and now (only what differs)."""

    was_env = lineage.get("environment") or {}
    was_pk = was_env.get("packages") or {}
    now_env = environment(tuple(was_pk))  # the packages it recorded (torch ones too)
    now_pk = now_env["packages"]
    packages = {
        name: {"was": was_pk.get(name), "now": now_pk.get(name)}
        for name in sorted(set(was_pk) | set(now_pk))
        if was_pk.get(name) != now_pk.get(name)
    }
    out: dict[str, Any] = {"packages": packages}
    if was_env.get("python") != now_env["python"]:
        out["python"] = {"was": was_env.get("python"), "now": now_env["python"]}
    was_git = lineage.get("git") or {}
    root = was_git.get("root")
    folder = Path(root) if root and Path(root).is_dir() else cfg.base_dir
    now_git = git_state(folder) or {}
    out["git"] = {
        "commit": {"was": was_git.get("commit"), "now": now_git.get("commit")},
        "dirty": {"was": was_git.get("dirty"), "now": now_git.get("dirty")},
    }
    return out


def _reasons(result: ReproduceResult, settings: CheckConfig) -> list[str]:
    reasons = []
    if not result.data["identical"]:
        reasons.append(
            f"the data changed (fingerprint {str(result.data['recorded'])[:12]} when trained, "
            f"{str(result.data['now'])[:12]} now; allowed by --allow-data-change)"
        )
    for part in ("train", "test"):
        if not result.split[part]["identical"]:
            reasons.append(f"the {part} split holds different rows than when the version was trained")
    if not result.split.get("refit", {"identical": True})["identical"]:
        reasons.append("the refit (train.refit: all) used different rows than when the version was trained")
    for name, m in result.metrics.items():
        if not m["within"]:
            diff = "" if m["difference"] is None else f", difference {m['difference']:+.3g}"
            reasons.append(
                f"test {name}: {m['recorded']} recorded, {m['now']} now{diff} "
                f"(tolerance {settings.metric_tolerance:g})"
            )
    weights = result.weights
    if weights and weights["expected_identical"] and not weights["identical"]:
        reasons.append(
            "the weights are not bit-identical, although both trainings ran on the CPU with the same "
            "threads, CPU capability and torch version (see docs/torch.md: determinism)"
        )
    agree = result.agreement
    if agree.get("compared") and agree["fraction"] < settings.agreement:
        reasons.append(
            f"predictions agree on {agree['fraction']:.1%} of {agree['rows']} test rows "
            f"(at least {settings.agreement:.1%} required)"
        )
    return reasons


def _environment_notes(env: Mapping[str, Any]) -> list[str]:
    notes = [f"{name} {v['was']} when trained, {v['now']} now" for name, v in env["packages"].items()]
    if "python" in env:
        notes.append(f"Python {env['python']['was']} when trained, {env['python']['now']} now")
    commit, dirty = env["git"]["commit"], env["git"]["dirty"]
    if commit["was"] != commit["now"]:
        notes.append(f"git commit {str(commit['was'])[:12]} when trained, {str(commit['now'])[:12]} now")
    for when, value in (("when trained", dirty["was"]), ("now", dirty["now"])):
        if value:
            notes.append(f"the git work tree had uncommitted changes {when}")
    return notes


make_callable(__name__, reproduce)  # `mlpact.reproduce(...)` is reproduce

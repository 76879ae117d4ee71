"""Golden examples: a version answers for its behaviour, not just its files.

At save time a few test-split input rows (``record.golden_rows``, chosen by the seed) and the
version's outputs for them (predictions, and class probabilities for classifiers) are written to
``golden.json``, listed and hashed in the manifest. `models verify`, `models import` and
`mlpact serve` predict them again; an output beyond the tolerance (``record.golden_rtol`` /
``golden_atol`` for probabilities and values; labels exactly) is a :class:`BehaviourError` that
names the version and the packages whose installed version differs from the recorded one.
Versions saved before golden rows existed (or with ``golden_rows: 0``) have none: that is said,
not failed. PyTorch image models record none (their inputs are image files, not rows).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact._core import files
from mlpact._core.lineage import package_versions
from mlpact.errors import BehaviourError, InputWarning, plural
from mlpact.version import envlock

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.version.model import Model

FILE = "golden.json"
MAX_DIFFERENCES = 5

__all__ = ["FILE", "GoldenCheck", "check", "environment_changes", "select_rows", "verify", "write"]


@dataclass(frozen=True)
class GoldenCheck:
    """The outcome of re-predicting a version's golden rows."""

    ref: str
    status: str  # "ok", "differs" or "none" (no golden rows recorded)
    rows: int = 0
    problem: str | None = None
    changed_packages: dict[str, list[str | None]] | None = None

    @property
    def ok(self) -> bool:
        return self.status != "differs"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- saving
def select_rows(frame: pd.DataFrame, columns: Sequence[str], *, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` rows of `frame` (chosen by `seed`, in their original order) as JSON-ready records."""
    if n <= 0 or len(frame) == 0:
        return []
    rows = frame[[c for c in columns if c in frame.columns]]
    rows = rows.sample(min(n, len(rows)), random_state=seed).sort_index()
    return json.loads(rows.to_json(orient="records", date_format="iso", date_unit="us"))  # type: ignore[no-any-return]


def write(directory: Path, model: Model, records: list[dict[str, Any]], *, rtol: float, atol: float) -> None:
    """Predict `records` with the version being saved and write ``golden.json`` beside it."""

    records = [
        r for r in records if not model.check([r])[1].errors
    ]  # rows the policy refuses can't be golden
    if not records:
        return
    outputs = _outputs(model, records)
    files.write_json(
        directory / FILE,
        {"rows": records, **outputs, "rtol": rtol, "atol": atol, "environment": _installed(model)},
    )


def _outputs(model: Model, records: list[dict[str, Any]]) -> dict[str, Any]:
    import warnings

    from mlpact.version.model import PROBA_PREFIX

    with warnings.catch_warnings():
        # test-split rows fall outside the training range now and then, by design: no warning
        warnings.simplefilter("ignore", InputWarning)
        table = model.predict_frame(records, check=True)
    proba = {
        c.removeprefix(PROBA_PREFIX): table[c].tolist() for c in table.columns if c.startswith(PROBA_PREFIX)
    }
    prediction = json.loads(table["prediction"].to_json(orient="values"))
    return {"prediction": prediction, "probabilities": proba or None}


def _installed(model: Model) -> dict[str, str | None]:
    return dict((model.lineage.get("environment") or {}).get("packages") or {})


# --------------------------------------------------------------------------- checking
def check(model: Model) -> GoldenCheck:
    """Predict the version's golden rows again and compare with what was recorded."""

    if FILE not in (model.manifest.get("files") or {}):
        return GoldenCheck(
            model.ref,
            "none",
            problem="no golden rows recorded (saved before mlpact recorded them, or record.golden_rows: 0)",
        )
    golden = files.read_json(model.path, FILE)
    try:
        now = _outputs(model, golden["rows"])
    except Exception as exc:  # the rows cannot even be predicted here: also a behaviour change
        now = {"error": f"{type(exc).__name__}: {exc}"}
    differences = _differences(golden, now)
    if not differences:
        return GoldenCheck(model.ref, "ok", len(golden["rows"]))
    changed = environment_changes(model)
    return GoldenCheck(
        model.ref, "differs", len(golden["rows"]), _message(model.ref, differences, changed), changed
    )


def verify(model: Model) -> GoldenCheck:
    """Like :func:`check`, raising when the golden rows predict differently.

    Raises:
        BehaviourError: an output differs beyond the recorded tolerance.
    """
    found = check(model)
    if not found.ok:
        raise BehaviourError(str(found.problem), hint=_HINT.format(ref=model.ref))
    return found


def verify_files(directory: Path, manifest: Mapping[str, Any], pipeline: Any, config: Any) -> GoldenCheck:
    """:func:`verify` for a version not (yet) in a store, e.g. an import being checked
    (scikit-learn versions; a PyTorch version is checked when it is loaded, by `serve`/`verify`)."""
    from mlpact.version.model import Model

    if manifest.get("flavor", "sklearn") != "sklearn":
        return GoldenCheck(
            f"{manifest.get('name')}:{manifest.get('version')}", "none", problem="checked when loaded"
        )

    return verify(Model(directory, manifest, pipeline, raw_config=config if isinstance(config, dict) else {}))


_HINT = (
    "Install the recorded versions (the version's requirements.lock: `pip install -r "
    "requirements.lock`), or retrain here and compare: `mlpact reproduce {ref}`."
)


def _differences(golden: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    import numpy as np

    if "error" in now:
        return [f"the golden rows cannot be predicted here ({now['error']})"]
    rtol, atol = float(golden.get("rtol", 1e-6)), float(golden.get("atol", 1e-9))
    out = []
    was, got = golden["prediction"], now["prediction"]
    for i, (a, b) in enumerate(zip(was, got, strict=True)):
        numeric = isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool)
        same = (
            bool(np.isclose(a, b, rtol=rtol, atol=atol))
            if numeric and golden.get("probabilities") is None
            else a == b
        )
        if not same:
            out.append(f"row {i}: prediction {a!r} is now {b!r}")
    for cls, values in (golden.get("probabilities") or {}).items():
        new = np.asarray((now.get("probabilities") or {}).get(cls, [np.nan] * len(values)), dtype=float)
        gap = np.abs(new - np.asarray(values, dtype=float))
        bad = ~np.isclose(new, values, rtol=rtol, atol=atol)
        if bad.any():
            out.append(
                f"P({cls}) differs on {plural(int(bad.sum()), 'row')} "
                f"(largest difference {float(np.nanmax(gap)):.3g})"
            )
    return out


def environment_changes(model: Model) -> dict[str, list[str | None]]:
    """Packages whose installed version differs from the one recorded at save time (the full
    requirements.lock when the version has one, else the packages in its lineage)."""

    recorded = envlock.read(model.path, model.manifest) or _installed(model)
    names = tuple(sorted(recorded))
    installed = (
        envlock.installed()
        if envlock.FILE in (model.manifest.get("files") or {})
        else package_versions(names)
    )
    changed = {
        n: [recorded[n], installed.get(envlock.normalize(n), installed.get(n))]
        for n in names
        if recorded[n] != installed.get(envlock.normalize(n), installed.get(n))
    }
    py = (model.lineage.get("environment") or {}).get("python")
    import platform

    if py and py != platform.python_version():
        changed["python"] = [py, platform.python_version()]
    return changed


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def _message(ref: str, differences: list[str], changed: Mapping[str, list[str | None]]) -> str:
    shown = differences[:MAX_DIFFERENCES] + (
        [f"... and {len(differences) - MAX_DIFFERENCES} more"] if len(differences) > MAX_DIFFERENCES else []
    )
    if changed:
        env = ", ".join(
            f"{n} {a or 'absent'} -> {b or 'absent'}" for n, (a, b) in sorted(changed.items())[:12]
        )
        more = f" (and {len(changed) - 12} more)" if len(changed) > 12 else ""
        cause = f"Installed versions differ from those recorded at save time: {env}{more}."
    else:
        cause = (
            "The installed package versions are those recorded at save time; the difference "
            "comes from elsewhere (hardware, BLAS threads, or changed code)."
        )
    return f"{ref} predicts its golden rows differently here: " + "; ".join(shown) + ".\n" + cause

"""Secrets are never written: values from ``${env:...}`` and keys listed under `secrets:`.

One training (and a tuning study, an export and a report) with a secret in each place a user would
put one; then every byte mlpact wrote is searched for the raw values.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris

import mlpact
from conftest import write_config
from mlpact.version.portable import export_version

ENV_SECRET = "envSECRET-7f3a9c"  # part of the data path, as a token in a URL would be
KEY_SECRET = "keySECRET-51d2e8"  # a value the config marks secret


def _written(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _leaks(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        data = path.read_bytes()
        if path.suffix in (".tar", ".gz"):
            import gzip

            data = gzip.decompress(data)
        found += [f"{path.name}: {s}" for s in (ENV_SECRET, KEY_SECRET) if s.encode() in data]
        found += [f"{path.name} (path): {s}" for s in (ENV_SECRET,) if s in str(path)]
    return found


def test_no_file_mlpact_writes_holds_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / f"data-{ENV_SECRET}"
    data_dir.mkdir()
    load_iris(as_frame=True).frame.to_csv(data_dir / "iris.csv", index=False)
    monkeypatch.setenv("MLPACT_TEST_DATA", str(data_dir / "iris.csv"))
    project = tmp_path / "project"
    project.mkdir()
    config = write_config(
        project,
        {
            "name": "iris",
            "description": f"token={KEY_SECRET}",
            "data": {"source": "${env:MLPACT_TEST_DATA}", "target": "target"},
            "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 300}},
            "evaluate": {"cv_folds": 2},
            "tune": {"space": {"model.params.C": {"type": "float", "low": 0.1, "high": 10}}, "trials": 2},
            "secrets": ["description"],
        },
    )
    store = tmp_path / "store"
    result = mlpact.train(config, store=store)
    assert pd.read_csv(data_dir / "iris.csv").shape == (150, 5)  # the secret path really was used

    pytest.importorskip("optuna")
    from mlpact.tune import tune

    tuned = tune(config, store=store, plots=False)
    archive = export_version(result.ref, tmp_path / "exported.tar.gz", store=store)
    report = mlpact.load(result.ref, store=store).path / "report.html"

    written = [*_written(store), archive, report, tuned.best_yaml]
    assert len(written) > 15
    assert _leaks(written) == []
    saved = (result.version.path / "config.yaml").read_text()
    assert "${env:MLPACT_TEST_DATA}" in saved and "description: '***'" in saved

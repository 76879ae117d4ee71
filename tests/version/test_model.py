"""Loading a version: integrity first, trusted types only, then predictions under the schema."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mlpact
from mlpact.errors import DataError, InputValidationError, InputWarning, IntegrityError, UntrustedTypesError
from mlpact.version import bundle


def test_load_by_name_version_and_path(trained_wine: dict[str, Any]) -> None:
    store, ref = trained_wine["store"], trained_wine["ref"]
    by_name = mlpact.load("wine", store=store)
    assert by_name.ref == ref == "wine:1"
    assert mlpact.load(ref, store=store).version == 1
    by_path = mlpact.load(by_name.path)
    assert by_path.ref == ref
    assert by_name.record is not None and by_path.record == by_name.record  # its store answers for it


def test_loaded_model_exposes_its_contract(trained_wine: dict[str, Any]) -> None:
    model = mlpact.load(trained_wine["ref"], store=trained_wine["store"])
    assert model.task == "classification"
    assert model.classes == [0, 1, 2]
    assert len(model.schema.names) == 13
    assert model.metrics["test_scored"] == 1
    assert 0.9 < model.metrics["test"]["accuracy"] <= 1.0
    assert model.config.model.type == "sklearn.linear_model.LogisticRegression"
    assert model.lineage["data"]["fingerprint"] == trained_wine["result"].version.data_fingerprint
    assert model.lineage["environment"]["packages"]["scikit-learn"]


@pytest.mark.filterwarnings("ignore::mlpact.errors.InputWarning")
def test_predictions_match_the_raw_pipeline(trained_wine: dict[str, Any]) -> None:
    model = mlpact.load(trained_wine["ref"], store=trained_wine["store"])
    X = trained_wine["frame"].drop(columns="target")
    assert np.array_equal(model.predict(X), model.pipeline.predict(X.astype("float64")))
    proba = model.predict_proba(X.head(5))
    assert list(proba.columns) == [0, 1, 2]
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_accepts_records(trained_wine: dict[str, Any]) -> None:
    model = mlpact.load(trained_wine["ref"], store=trained_wine["store"])
    row = trained_wine["frame"].drop(columns="target").iloc[0].to_dict()
    assert model.predict(row).tolist() == model.predict([row]).tolist()
    with pytest.raises(DataError, match="Expected a pandas DataFrame, a record"):
        model.predict("alcohol=13")


def test_bad_input_lists_every_problem(trained_wine: dict[str, Any]) -> None:
    model = mlpact.load(trained_wine["ref"], store=trained_wine["store"])
    X = trained_wine["frame"].drop(columns=["target", "hue"]).head(4).astype(object)
    X.loc[1, "alcohol"] = "thirteen"
    with pytest.raises(InputValidationError) as info:
        model.predict(X)
    text = str(info.value)
    assert "hue: column is missing" in text
    assert "alcohol: 1 value cannot be converted to float (row 2); e.g. 'thirteen'" in text


def test_warnings_under_the_policy_do_not_stop_predictions(trained_wine: dict[str, Any]) -> None:
    model = mlpact.load(trained_wine["ref"], store=trained_wine["store"])
    X = trained_wine["frame"].drop(columns="target").head(2).copy()
    X.loc[0, "proline"] = 10_000
    with pytest.warns(InputWarning, match="proline: 1 value outside the training range"):
        assert len(model.predict(X)) == 2


def test_clean_input_warns_nothing(trained_wine: dict[str, Any]) -> None:
    model = mlpact.load(trained_wine["ref"], store=trained_wine["store"])
    X = trained_wine["frame"].drop(columns="target")
    X = X[
        X.apply(lambda c: c.between(model.schema.column(c.name).min, model.schema.column(c.name).max)).all(
            axis=1
        )
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(X)


@pytest.fixture
def copied_version(trained_wine: dict[str, Any], tmp_path: Path) -> Path:
    model = mlpact.load(trained_wine["ref"], store=trained_wine["store"])
    target = tmp_path / "copy"
    shutil.copytree(model.path, target)
    return target


@pytest.mark.parametrize("name", ["schema.json", "pipeline.skops", "config.yaml"])
def test_a_changed_file_is_refused_naming_it(copied_version: Path, name: str) -> None:
    with open(copied_version / name, "ab") as fh:
        fh.write(b"\n")
    with pytest.raises(IntegrityError, match=f"changed: {name}"):
        mlpact.load(copied_version)


def test_missing_and_added_files_are_refused(copied_version: Path) -> None:
    (copied_version / "card.md").unlink()
    (copied_version / "extra.bin").write_bytes(b"x")
    with pytest.raises(IntegrityError, match="missing: card.md; unexpected: extra.bin"):
        mlpact.load(copied_version)


def test_not_a_version_folder(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match="has no manifest.json"):
        mlpact.load(tmp_path)


def _swap_pipeline(directory: Path, obj: object) -> None:
    import skops.io as sio

    (directory / bundle.PIPELINE).write_bytes(sio.dumps(obj))
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["files"] = bundle.hash_files(directory)
    manifest["trusted_types"] = sorted(sio.get_untrusted_types(file=directory / bundle.PIPELINE))
    (directory / "manifest.json").write_text(json.dumps(manifest))


def test_a_rehashed_pipeline_with_a_dangerous_type_is_refused(copied_version: Path) -> None:
    import os

    from sklearn.preprocessing import FunctionTransformer

    _swap_pipeline(copied_version, FunctionTransformer(func=os.system))
    with pytest.raises(UntrustedTypesError, match="system"):
        mlpact.load(copied_version)


def test_rewriting_file_and_manifest_together_is_caught_by_the_index(trained_mixed: dict[str, Any]) -> None:
    import mlpact.store

    store = mlpact.store.Store(trained_mixed["store"])
    record = store.resolve(trained_mixed["ref"])
    backup = record.path.parent / "backup"
    shutil.copytree(record.path, backup)
    try:
        (record.path / "card.md").write_text("# rewritten")
        manifest = json.loads((record.path / "manifest.json").read_text())
        manifest["files"] = bundle.hash_files(record.path)
        (record.path / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(IntegrityError, match="differs from the digest recorded in the store index"):
            mlpact.load(trained_mixed["ref"], store=store)
    finally:
        shutil.rmtree(record.path)
        backup.rename(record.path)
    assert mlpact.load(trained_mixed["ref"], store=store).ref == trained_mixed["ref"]


@pytest.mark.filterwarnings("ignore::mlpact.errors.InputWarning")
def test_mixed_model_predicts_on_raw_csv_rows(trained_mixed: dict[str, Any]) -> None:
    model = mlpact.load(trained_mixed["ref"], store=trained_mixed["store"])
    raw = pd.read_csv(trained_mixed["folder"] / "mixed.csv").drop(columns="label")
    assert "id" not in model.schema.names
    pred = model.predict(raw)
    truth = trained_mixed["frame"]["label"].to_numpy()
    assert (pred == truth).mean() > 0.8

"""The compiled fast path for small requests gives exactly the pipeline's numbers, or steps aside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import mixed_frame

import mlpact
from mlpact.errors import InputWarning
from mlpact.version import rowpath
from mlpact.version.rowpath import row_path


def _train(tmp_path: Path, features: dict[str, Any], *, drop: tuple[str, ...] = ("id", "note", "day")) -> Any:
    frame = mixed_frame(400, seed=3)
    frame.to_csv(tmp_path / "mixed.csv", index=False)
    result = mlpact.train(
        {
            "name": "fast",
            "data": {"source": str(tmp_path / "mixed.csv"), "target": "label", "drop": list(drop)},
            "features": features,
            "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 1000}},
            "evaluate": {"cv_folds": 0},
        },
        store=tmp_path / "store",
    )
    model = mlpact.load(result.ref, store=tmp_path / "store")
    rows = mixed_frame(120, seed=9).drop(columns=["label", *drop])
    return model, rows


@pytest.mark.parametrize(
    "features",
    [
        {},
        {"numeric": {"impute": "mean", "scale": "minmax"}, "categorical": {"encode": "ordinal"}},
        {"numeric": {"impute": "zero", "scale": "robust"}, "categorical": {"impute": "most_frequent"}},
        {"numeric": {"impute": "most_frequent", "scale": "none"}, "categorical": {"max_categories": 2}},
    ],
    ids=["defaults", "minmax-ordinal", "robust-frequent", "unscaled-infrequent"],
)
def test_compiled_path_matches_the_pipeline_bitwise(tmp_path: Path, features: dict[str, Any]) -> None:
    model, rows = _train(tmp_path, features)
    X, report = model.check(rows)
    assert not report.errors
    fast = row_path(model.pipeline)
    assert fast is not None, "this pipeline shape is one the fast path must compile"
    expected = model.pipeline.predict_proba(X)
    assert np.array_equal(fast.predict_proba(X), expected)
    for i in range(5):  # and one row at a time, as a server sees them
        one, _ = model.check(rows.iloc[[i]])
        assert np.array_equal(fast.predict_proba(one), model.pipeline.predict_proba(one))
    assert np.isnan(X["x"]).any() and X["color"].isna().any(), "missing values must be exercised"


def test_a_value_it_was_not_compiled_for_falls_back(tmp_path: Path) -> None:
    model, rows = _train(tmp_path, {})
    fast = row_path(model.pipeline)
    assert fast is not None
    X, _ = model.check(rows.iloc[:3])
    X = X.copy()
    X.loc[1, "color"] = "purple"  # unseen in training: sklearn decides what that means
    assert fast.transform(X) is None


def test_text_features_are_not_compiled(tmp_path: Path) -> None:
    model, _ = _train(tmp_path, {}, drop=("id", "day"))
    assert row_path(model.pipeline) is None


def test_a_compiled_path_that_disagrees_is_discarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = _train(tmp_path, {})
    real = rowpath._numeric_op

    def off_by_a_little(step: Any) -> Any:
        op = real(step)
        return None if op is None else (lambda X: op(X) + 1e-12)

    monkeypatch.setattr(rowpath, "_numeric_op", off_by_a_little)
    assert row_path(model.pipeline) is None


def test_the_server_answers_with_the_pipelines_numbers(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlpact.serve import create_app

    model, rows = _train(tmp_path, {})
    records = [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
        for r in rows.iloc[:4].to_dict(orient="records")
    ]
    records[2]["color"] = "purple"  # goes through sklearn; the others through the fast path
    with pytest.warns(InputWarning, match="color"):
        expected = model.predict_proba(records)
    with TestClient(create_app("fast:1", store=tmp_path / "store"), base_url="http://localhost") as client:
        for i, record in enumerate(records):
            body = client.post("/predict", json=[record]).json()
            got = body["probabilities"][0]
            assert [got[str(c)] for c in expected.columns] == expected.iloc[i].tolist()


def test_the_server_does_not_compile_a_version_with_predict_compiled_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlpact.serve import create_app

    built: list[Any] = []
    monkeypatch.setattr(rowpath, "_compile", lambda pipeline: built.append(pipeline))
    frame = mixed_frame(200, seed=3)
    frame.to_csv(tmp_path / "mixed.csv", index=False)
    for name, compiled in (("off", False), ("on", True)):
        mlpact.train(
            {"name": name, "data": {"source": str(tmp_path / "mixed.csv"), "target": "label",
                                    "drop": ["id", "note", "day"]},
             "model": {"type": "sklearn.linear_model.LogisticRegression"},
             "evaluate": {"cv_folds": 0}, "predict": {"compiled": compiled}},
            store=tmp_path / "store",
        )  # fmt: skip
        record = frame.drop(columns=["id", "note", "day", "label"]).iloc[0].to_dict()
        with TestClient(
            create_app(f"{name}:1", store=tmp_path / "store"), base_url="http://localhost"
        ) as client:
            assert client.post("/predict", json=[record]).status_code == 200
    assert len(built) == 1  # only the version that allows it

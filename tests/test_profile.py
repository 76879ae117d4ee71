"""The training-data profile: computed from the training split only, shown in the card and report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mlpact
from conftest import mixed_frame, write_config
from mlpact.profile import FEATURES_PLOT, TARGET_PLOT, profile

FAST = {"cv_folds": 0, "importance_repeats": 0, "leakage": False, "baseline": False}


def test_missing_outliers_and_distributions_on_generated_data() -> None:
    frame = pd.DataFrame(
        {"x": [1.0, 2, 3, 4, 5, 6, 7, 8, 100, np.nan], "c": [*"aabbbcccc", None], "y": [0, 1] * 5}
    )
    found = profile(frame, target="y", task="classification", columns=["x", "c"])
    assert found["missing"] == {"x": 1, "c": 1}
    assert found["outliers"] == {"x": 1}  # 100 is above Q3 + 1.5 IQR; nothing else is
    assert found["columns"]["c"]["top"] == {"c": 4, "b": 3, "a": 2, "(missing)": 1}
    assert found["target"]["top"] == {"0": 5, "1": 5}
    assert sum(found["columns"]["x"]["counts"]) == 9


def test_regression_target_is_a_distribution() -> None:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    found = profile(frame, target="target", task="regression", columns=list(frame.columns))
    assert found["target"]["kind"] == "numeric" and "target" not in found["columns"]
    assert (
        found["target"]["min"] == frame["target"].min()
        and found["target"]["median"] == frame["target"].median()
    )


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("profile")
    mixed_frame().to_csv(folder / "mixed.csv", index=False)
    cfg = {
        "name": "mixed",
        "data": {"source": "mixed.csv", "target": "label"},
        "model": {"type": "sklearn.linear_model.LogisticRegression"},
        "evaluate": FAST,
        "record": {"golden_rows": 3},
    }
    return mlpact.train(write_config(folder, cfg), store=folder / "store")


def test_profile_uses_the_training_split_only_and_reaches_card_and_report(mixed: Any) -> None:
    found = mixed.metrics["profile"]
    assert found["rows"] == mixed.metrics["rows"]["train"]
    assert found["missing"]["x"] > 0 and found["columns"]["color"]["kind"] == "categorical"
    assert found["plots"] == [TARGET_PLOT, FEATURES_PLOT]
    for name in found["plots"]:
        assert (mixed.path / "reports" / name).is_file()
    card = (mixed.path / "card.md").read_text()
    assert f"## Training data profile ({found['rows']} training rows)" in card
    assert "| color |" in card and f"![{FEATURES_PLOT}](reports/{FEATURES_PLOT})" in card
    assert "<h2>Training data profile</h2>" in (mixed.path / "report.html").read_text()
    from mlpact import bundle

    assert f"reports/{FEATURES_PLOT}" in bundle.read_manifest(mixed.path)["files"]


def test_golden_rows_survive_mixed_types(mixed: Any) -> None:
    from mlpact import golden

    model = mlpact.load(mixed.ref, store=mixed.path.parents[2])
    assert golden.check(model).status == "ok"


def test_profile_can_be_turned_off(tmp_path: Path) -> None:
    cfg = {
        "name": "iris",
        "data": {"source": "sklearn:iris", "target": "target"},
        "model": {"type": "sklearn.linear_model.LogisticRegression"},
        "evaluate": FAST,
        "record": {"profile": False, "lock": False},
    }
    result = mlpact.train(write_config(tmp_path, cfg), store=tmp_path / "store")
    assert "profile" not in result.metrics and not (result.path / "requirements.lock").exists()


def test_text_columns_show_lengths_and_frequent_terms_not_the_text() -> None:
    notes = ["the engine failed again today", "engine noise at speed", "", "brakes and engine checked", None]
    frame = pd.DataFrame({"note": notes * 4, "y": [0, 1] * 10})
    found = profile(frame, target="y", task="classification", columns=["note"], text=["note"])
    note = found["columns"]["note"]
    assert note["kind"] == "text" and note["empty"] == 4 and note["max"] == 5.0 and note["median"] == 4.0
    assert (
        next(iter(note["terms"])) == "engine" and note["terms"]["engine"] == 12 and "the" not in note["terms"]
    )
    assert "top" not in note  # no training text
    shown = profile(frame, target="y", task="classification", columns=["note"], text=["note"], raw_text=True)
    assert shown["columns"]["note"]["top"]["engine noise at speed"] == 4


def test_the_report_never_shows_training_text_unless_allowed(mixed: Any) -> None:
    note = mixed.metrics["profile"]["columns"]["note"]
    assert note["kind"] == "text" and "top" not in note and note["terms"]
    page = (mixed.path / "report.html").read_text()
    card = (mixed.path / "card.md").read_text()
    example = mixed_frame()["note"].iloc[0]
    assert example not in page and example not in card
    assert "words per value median" in card

"""Reports: metric tables beside the baseline, the model card, report.html and `mlpact report`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import mlpact
from conftest import wine_config, write_config
from mlpact.cli import app
from mlpact.report import baseline_warning, beats, metric_table

METRICS: dict[str, Any] = {
    "task": "classification",
    "primary": "accuracy",
    "cv": {"folds": 3, "metrics": {"accuracy": {"mean": 0.9, "std": 0.05, "folds": [0.85, 0.9, 0.95]}}},
    "test": {"accuracy": 0.92, "log_loss": 0.3},
    "baseline": {
        "estimator": "sklearn.dummy.DummyClassifier(strategy='prior')",
        "cv": {"accuracy": {"mean": 0.4, "std": 0.01, "folds": []}},
        "test": {"accuracy": 0.39, "log_loss": 0.2},
    },
    "rows": {"train": 100, "test": 30},
}


def test_metric_table_puts_the_baseline_beside_the_model() -> None:
    rows = {r.name: r for r in metric_table(METRICS)}
    assert list(rows) == ["accuracy", "log_loss"]
    assert (rows["accuracy"].cv, rows["accuracy"].test) == ("0.9000 ± 0.0500", "0.9200")
    assert (rows["accuracy"].baseline_cv, rows["accuracy"].baseline_test) == ("0.4000 ± 0.0100", "0.3900")
    assert rows["accuracy"].beats_baseline is True
    assert rows["log_loss"].beats_baseline is False  # lower is better: 0.3 loses to 0.2


@pytest.mark.parametrize(
    "metric, model, baseline, expected",
    [
        ("accuracy", 0.9, 0.5, True),
        ("accuracy", 0.5, 0.5, False),
        ("rmse", 1.0, 2.0, True),
        ("rmse", None, 2.0, None),
    ],
)
def test_beats_knows_which_direction_wins(
    metric: str, model: Any, baseline: Any, expected: bool | None
) -> None:
    assert beats(metric, model, baseline) is expected


def test_baseline_warning_only_when_the_model_does_not_beat_it() -> None:
    assert baseline_warning(METRICS) is None
    useless = {**METRICS, "test": {"accuracy": 0.39}}
    warning = baseline_warning(useless)
    assert warning is not None and warning.startswith(
        "The model does not beat the baseline on accuracy (test split: 0.3900 vs 0.3900"
    )


@pytest.fixture(scope="module")
def sliced(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("sliced")
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame["region"] = ["north", "south", "east"] * 59 + ["north"]
    frame.to_csv(folder / "wine.csv", index=False)
    cfg = wine_config(
        data={"source": "wine.csv", "target": "target", "drop": ["region"]},
        description="Wine <b>cultivars</b> & friends",
        evaluate={"cv_folds": 3, "slices": ["region"]},
    )
    return mlpact.train(write_config(folder, cfg), store=folder / "store")


def test_report_html_is_self_contained_with_every_section(sliced: Any) -> None:
    page = (sliced.path / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "@import" not in page and "<script" not in page
    profile_plots = sliced.metrics["profile"]["plots"]  # the training-data profile's two plots
    assert page.count("data:image/png;base64,") == len(sliced.metrics["plots"]) + len(profile_plots) == 7
    for heading in ("Metrics", "Plots", "Slices", "Training data profile", "Input schema", "Lineage"):
        assert f"<h2>{heading}</h2>" in page
    assert "baseline test" in page and "DummyClassifier" in page
    assert "Wine &lt;b&gt;cultivars&lt;/b&gt; &amp; friends" in page  # escaped, not markup
    assert "<code>region</code>" in page and "north" in page


def test_report_and_plots_are_hashed_with_the_version(sliced: Any) -> None:
    from mlpact import bundle

    files = bundle.read_manifest(sliced.path)["files"]
    assert "report.html" in files and "reports/confusion_matrix.png" in files
    bundle.verify(sliced.path)


def test_model_card_has_baseline_slices_plots_and_schema(sliced: Any) -> None:
    card = (sliced.path / "card.md").read_text()
    assert "| metric | CV mean ± std | test | test 95% CI | baseline CV | baseline test |" in card
    ci = sliced.metrics["ci"]["test"]["accuracy"]
    accuracy = sliced.metrics["test"]["accuracy"]
    assert "| accuracy | " in card and f"| [{ci['low']:.3f}, {ci['high']:.3f}] |" in card
    assert ci["low"] <= accuracy <= ci["high"] and ci["method"] == "exact"
    assert "95% CI on the 36 test rows: stratified bootstrap (1000 resamples, seed" in card
    assert "### Test metrics per value of `region`" in card
    assert "![confusion_matrix.png](reports/confusion_matrix.png)" in card
    assert "| alcohol | float | no |" in card


def test_report_command_prints_the_versions_own_page_until_an_evaluation_is_recorded(
    sliced: Any, tmp_path: Path
) -> None:
    runner = CliRunner()
    store = sliced.path.parents[2]
    first = runner.invoke(app, ["report", sliced.ref, "--store", str(store)])
    assert first.exit_code == 0, first.output
    assert str(sliced.path / "report.html") in first.output.replace("\n", "")
    out = tmp_path / "page.html"
    written = runner.invoke(app, ["report", sliced.ref, "--store", str(store), "-o", str(out), "--json"])
    assert written.exit_code == 0, written.output
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_report_after_an_evaluation_lists_it_and_leaves_the_version_alone(sliced: Any) -> None:
    from sklearn.datasets import load_wine

    from mlpact.evaluate import evaluate_version
    from mlpact.report import write_report

    store = sliced.path.parents[2]
    before = (sliced.path / "report.html").read_bytes()
    frame = load_wine(as_frame=True).frame.sample(40, random_state=3).assign(region="west")
    evaluate_version(sliced.ref, frame, store=store, plots=False)
    path = write_report(mlpact.load(sliced.ref, store=store), store=mlpact.Store.open(store))
    assert path == store / "reports" / "wine" / "1" / "report.html"
    assert "Evaluations on new data" in path.read_text()
    assert (sliced.path / "report.html").read_bytes() == before


def test_report_of_a_missing_version_is_exit_5(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "nope:3", "--store", str(tmp_path)])
    assert result.exit_code == 5

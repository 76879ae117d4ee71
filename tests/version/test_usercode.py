"""Custom code in a config: used in the pipeline, recorded in the version, checked at load."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import mlpact
from conftest import wine_config
from mlpact.errors import CodeChangedWarning, ConfigError, IntegrityError
from mlpact.version.usercode import import_paths

FEATURES = '''
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin


class AddRatios(TransformerMixin, BaseEstimator):
    """Adds numerator / denominator columns."""

    def __init__(self, pairs=(("flavanoids", "proline"),)):
        self.pairs = pairs

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        out = X.copy()
        for a, b in self.pairs:
            out[f"{a}_per_{b}"] = X[a] / X[b]
        return out


class NotAFrame(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X.to_numpy()


def helper(x):
    return x
'''


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "code"
    (root / "winefeats").mkdir(parents=True)
    (root / "winefeats" / "__init__.py").write_text("")
    (root / "winefeats" / "features.py").write_text(textwrap.dedent(FEATURES))
    sys.path.insert(0, str(root))
    yield root / "winefeats" / "features.py"
    sys.path.remove(str(root))
    for name in [m for m in sys.modules if m.startswith("winefeats")]:
        del sys.modules[name]


def _cfg(**step: object) -> dict[str, object]:
    return wine_config(
        features={"custom": [{"type": "winefeats.features:AddRatios", **step}]}, evaluate={"cv_folds": 0}
    )


def test_custom_step_adds_a_feature_and_is_recorded(package: Path, tmp_path: Path) -> None:
    result = mlpact.train(
        _cfg(params={"pairs": [["flavanoids", "proline"], ["alcohol", "hue"]]}), store=tmp_path / "s"
    )
    model = mlpact.load(result.ref, store=tmp_path / "s")
    assert model.lineage["data"]["custom_columns"] == ["flavanoids_per_proline", "alcohol_per_hue"]
    assert "flavanoids_per_proline" in model.lineage["features"]["numeric"]
    assert "flavanoids_per_proline" not in model.schema.names  # the input contract is unchanged
    (code,) = model.lineage["code"]
    assert code["module"] == "winefeats.features" and len(code["sha256"]) == 64
    assert list(model.pipeline.named_steps)[:1] == ["custom_0"]
    from sklearn.datasets import load_wine

    X = load_wine(as_frame=True).data.head(3)
    assert model.predict(X, check=False).shape == (3,)


def test_changed_code_warns_and_missing_code_refuses(package: Path, tmp_path: Path) -> None:
    result = mlpact.train(_cfg(), store=tmp_path / "s")
    package.write_text(package.read_text() + "\n# tweaked\n")
    with pytest.warns(CodeChangedWarning, match="different version of winefeats.features"):
        mlpact.load(result.ref, store=tmp_path / "s")
    package.unlink()
    for name in [m for m in sys.modules if m.startswith("winefeats")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    with pytest.raises(
        IntegrityError, match=r"uses winefeats.features:AddRatios, but module 'winefeats.features'"
    ):
        mlpact.load(result.ref, store=tmp_path / "s")


@pytest.mark.parametrize(
    "step, message",
    [
        (
            {"type": "winefeats.features:NotAFrame"},
            r"features\.custom\.0\.type: .*returned ndarray; expected a DataFrame",
        ),
        ({"type": "winefeats.features:helper"}, r"features\.custom\.0\.type: .* is not a transformer"),
        (
            {"params": {"pairz": []}},
            r"features\.custom\.0\.params\.pairz: not a parameter of AddRatios; did you mean `features\.custom\.0\.params\.pairs`",
        ),
        ({"type": "winefeats.nope:X"}, r"features\.custom\.0\.type: cannot import module 'winefeats.nope'"),
    ],
)
def test_bad_custom_steps_are_config_errors(
    package: Path, tmp_path: Path, step: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        mlpact.train(_cfg(**step), store=tmp_path / "s")


def test_import_paths() -> None:
    assert import_paths({"model": {"type": "a.B"}, "features": {"custom": [{"type": "c.d:E"}]}}) == [
        "a.B",
        "c.d:E",
    ]
    assert import_paths({}) == []

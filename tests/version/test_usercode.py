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
from mlpact.config import import_paths
from mlpact.errors import CodeChangedWarning, ConfigError, IntegrityError, UntrustedTypesError
from mlpact.store import Store

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


class Rule:
    """A helper object a custom step keeps inside the fitted pipeline."""

    def __init__(self, factor):
        self.factor = factor


class Scaled(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        self.rule_ = Rule(2.0)
        return self

    def transform(self, X):
        return X * self.rule_.factor
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


def _scaled(**code: object) -> dict[str, object]:
    return wine_config(
        features={"custom": [{"type": "winefeats.features:Scaled"}]}, evaluate={"cv_folds": 0}, code=code
    )


def test_classes_your_steps_keep_must_be_named_exactly_in_code_trust(package: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    with pytest.raises(UntrustedTypesError, match=r"\['winefeats.features.Rule'\]") as caught:
        mlpact.train(_scaled(), store=store)
    assert caught.value.hint is not None and "`code.trust`" in caught.value.hint
    assert Store(store).versions() == []
    result = mlpact.train(_scaled(trust=["winefeats.features:Rule"]), store=store)
    assert {"winefeats.features:Rule", "winefeats.features:Scaled"} <= set(result.version.trusted_paths or ())
    from sklearn.datasets import load_wine

    X = load_wine(as_frame=True).data.head(3)
    assert mlpact.load(result.ref, store=store).predict(X).shape == (3,)
    copy = _copy(result.version.path, tmp_path)  # outside the store: its config cannot vouch for itself
    with pytest.raises(UntrustedTypesError, match="winefeats.features.Rule"):
        mlpact.load(copy)
    assert mlpact.load(copy, trust=["winefeats.features.Scaled", "winefeats.features.Rule"]).ref == result.ref


def _copy(folder: Path, tmp_path: Path, name: str = "copy") -> Path:
    import shutil

    return Path(shutil.copytree(folder, tmp_path / name))


@pytest.mark.parametrize(
    "trust, message",
    [
        (["winefeats.features"], r"code\.trust\.0: 'winefeats\.features' is not a class or function"),
        (["winefeats"], r"code\.trust: .*expected import paths like 'mypkg\.module:Name'"),
        (["winefeats/features:Rule"], r"code\.trust: .*expected import paths"),
        (["winefeats.nope:Rule"], r"code\.trust\.0: cannot import module 'winefeats\.nope'"),
        (
            ["winefeats.features:Nope"],
            r"code\.trust\.0: module 'winefeats\.features' has no attribute 'Nope'",
        ),
    ],
)
def test_bad_code_trust_entries_are_config_errors(
    package: Path, tmp_path: Path, trust: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        mlpact.train(_scaled(trust=trust), store=tmp_path / "s")

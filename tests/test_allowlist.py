"""The allowlist: names checked as strings first, denied ones never, found objects exactly themselves."""

from __future__ import annotations

import io
import json
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlpact import allowlist, bundle
from mlpact.errors import IntegrityError, UntrustedTypesError


@pytest.fixture(scope="module")
def allow() -> allowlist.Allowlist:
    return bundle.allowed_names()


@pytest.mark.parametrize(
    "name, is_denied",
    [
        ("numpy.lib.npyio.NpzFile", True),
        ("numpy.lib._datasource.DataSource", True),
        ("numpy.memmap", True),
        ("numpy.f2py.__main__.X", True),
        ("threading.Thread", True),
        ("tempfile.TemporaryDirectory", True),
        ("ctypes.CDLL", True),
        ("pathlib.Path", True),
        ("posix.system", True),
        ("subprocess.Popen", True),
        ("io.FileIO", True),
        ("operator.methodcaller", True),
        ("builtins.eval", True),
        ("builtins.open", True),
        ("sklearn.datasets._openml.TemporaryDirectory", True),
        ("builtins.dict", False),
        ("numpy.ndarray", False),
        ("numpy.memmapx", False),  # a module prefix is matched by whole dotted parts only
        ("sklearn.tree._tree.Tree", False),
        ("mypkg.features.AddRatios", False),
    ],
)
def test_the_denylist(name: str, is_denied: bool) -> None:
    assert allowlist.denied(name) is is_denied


@pytest.mark.parametrize(
    "kind, name, allowed",
    [
        ("class", "sklearn.linear_model._logistic.LogisticRegression", True),
        ("class", "sklearn.linear_model.LogisticRegression", False),  # exact names: no re-exports
        ("class", "sklearn.tree._tree.Tree", True),
        ("class", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", True),
        ("class", "mlpact.transformers.DatetimeParts", True),
        ("class", "mlpact.bundle.Path", False),
        ("class", "sklearn.callback._progressbar.Thread", False),
        ("class", "numpy.lib.npyio.NpzFile", False),
        ("class", "sklearn.metrics._dist_metrics.PyFuncDistance64", False),
        ("function", "numpy.log1p", True),
        ("function", "sklearn.metrics.accuracy_score", False),
        ("function", "posix.system", False),
        ("type", "numpy.float32", True),
        ("type", "builtins.str", True),
        ("type", "posix.getcwd", False),
        ("array", "numpy.ndarray", True),
        ("array", "numpy.float64", True),
        ("array", "numpy.memmap", False),
        ("DictNode", "collections.OrderedDict", True),
        ("DictNode", "tempfile.TemporaryDirectory", False),
        ("ListNode", "builtins.list", True),
        ("ListNode", "collections.deque", False),  # rebuilt by calling the class with the items
        ("TupleNode", "sklearn.gaussian_process.kernels.Hyperparameter", True),  # a named tuple
        ("TupleNode", "threading.Thread", False),
        ("SparseMatrixNode", "scipy.sparse._csr.csr_matrix", True),
        ("bit_generator", "numpy.random.PCG64", True),
        ("bit_generator", "numpy.random.seed", False),
        ("method", "sklearn.linear_model._logistic.LogisticRegression.fit", False),
    ],
)
def test_the_builtin_allowlist_per_kind_of_node(
    allow: allowlist.Allowlist, kind: str, name: str, allowed: bool
) -> None:
    assert allow.allows(kind, name) is allowed


def test_extra_names_are_exact_and_never_reach_denied_ones(allow: allowlist.Allowlist) -> None:
    wider = allow.widened(["mypkg.features:AddRatios", "numpy.memmap", "os.system"])
    assert wider.allows("class", "mypkg.features.AddRatios")
    assert not wider.allows("class", "mypkg.features.Other")  # not its module, not its package
    assert not wider.allows("DictNode", "mypkg.features.AddRatios")  # plain nodes stay plain
    assert not wider.allows("class", "numpy.memmap") and not wider.allows("function", "os.system")


def _internal_names() -> list[tuple[str, str]]:
    fixed = [
        (k, n)
        for k, names in allowlist._FIXED.items()
        for n in sorted(names)
        if not n.startswith("builtins.")
    ]
    return [
        *(("class", n) for n in (*allowlist.SKLEARN_INTERNALS, *allowlist.OWN)),
        *(("function", n) for n in allowlist.FUNCTIONS),
        *fixed,
        *(("bit_generator", n) for n in allowlist.BIT_GENERATORS),
    ]


@pytest.mark.parametrize("kind, name", _internal_names())
def test_every_builtin_name_is_exactly_itself_here(allow: allowlist.Allowlist, kind: str, name: str) -> None:
    """The static lists are checked against the installed libraries: a class that moved would
    otherwise be refused at load time."""
    assert allowlist.check({(kind, name)}, allow, file="f") == [name]


def test_every_estimator_and_list_skops_provides_is_exactly_itself(allow: allowlist.Allowlist) -> None:
    found = {("class", n) for n in allow.classes} | {("function", n) for n in allow.functions}
    found |= {("array", n) for n in allow.arrays}
    assert len(allowlist.check(found, allow, file="f")) == len({n for _, n in found})


def _genuine() -> dict[str, Any]:  # keys: GENUINE
    """Fitted pipelines of the kinds mlpact builds or `mlpact.save` takes, with their internal types."""
    import pandas as pd
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import make_column_transformer
    from sklearn.datasets import load_iris
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        StackingClassifier,
        VotingClassifier,
    )
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.gaussian_process import GaussianProcessClassifier
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    X, y = load_iris(return_X_y=True, as_frame=True)
    frame = X.assign(kind=pd.Categorical(np.where(X["petal width (cm)"] > 1, "wide", "thin")),
                     text=np.where(y == 0, "red small", "blue large"))  # fmt: skip
    columns = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["kind"]),
        (TfidfVectorizer(), "text"),
        (make_pipeline(FunctionTransformer(np.log1p), StandardScaler()), list(X.columns)),
    )
    fits = {
        "columns + logistic": (make_pipeline(columns, LogisticRegression(max_iter=500)), frame),
        "hist on categorical frame": (HistGradientBoostingClassifier(max_iter=3), frame.drop(columns="text")),
        "gradient boosting": (GradientBoostingClassifier(n_estimators=3), X),
        "k neighbours, manhattan": (KNeighborsClassifier(metric="manhattan", algorithm="kd_tree"), X),
        "mlp": (MLPClassifier(max_iter=20), X),
        "gaussian process": (GaussianProcessClassifier(), X.head(60)),
        "sgd, calibrated": (CalibratedClassifierCV(SGDClassifier(), cv=3), X),
        "voting + stacking": (
            StackingClassifier([("v", VotingClassifier([("k", KNeighborsClassifier())]))], cv=3),
            X,
        ),
    }
    out = {}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (model, data) in fits.items():
            out[name] = model.fit(data, y.loc[data.index])
    return out


GENUINE = ["columns + logistic", "hist on categorical frame", "gradient boosting", "k neighbours, manhattan",
           "mlp", "gaussian process", "sgd, calibrated", "voting + stacking"]  # fmt: skip


@pytest.fixture(scope="module")
def genuine() -> dict[str, Any]:
    return _genuine()


@pytest.mark.parametrize("name", GENUINE)
def test_what_mlpact_writes_loads_with_no_extra_trust(
    genuine: dict[str, Any], tmp_path: Path, name: str
) -> None:
    fitted = genuine[name]
    assert bundle.dump_pipeline(fitted, tmp_path) is not None
    assert type(bundle.load_pipeline(tmp_path)) is type(fitted)


# --------------------------------------------------------------------------- reading a file's names
def _node(loader: str, name: str, **state: Any) -> dict[str, Any]:
    module, _, cls = name.rpartition(".")
    return {"__class__": cls, "__module__": module, "__loader__": loader, **state}


def _zip(schema: Any, **members: bytes) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.json", schema if isinstance(schema, str) else json.dumps(schema))
        for name, data in members.items():
            zf.writestr(name, data)
    buf.seek(0)
    return buf


def test_needed_reads_every_name_by_kind_without_importing() -> None:
    generator_state = _node(
        "DictNode", "builtins.dict",
        content={"bit_generator": _node("JsonNode", "builtins.str", content='"PCG64"')},
        key_types=_node("ListNode", "builtins.list", content=[]),
    )  # fmt: skip
    schema = _node(
        "ObjectNode", "zz_not_a_module.Estimator",
        content=_node("ListNode", "builtins.list", content=[
            _node("FunctionNode", "numpy.log1p"),
            _node("MethodNode", "zz_other.Thing", content={"func": "run", "obj": _node("ObjectNode", "zz_other.Thing")}),
            _node("RandomGeneratorNode", "numpy.random._generator.Generator",
                  content={"bit_generator": generator_state, "seed_seq": _node("JsonNode", "builtins.int", content="1")}),
            _node("JsonNode", "os.system", content="1"),  # rebuilt from JSON: its name means nothing
        ]),
    )  # fmt: skip
    found = allowlist.needed(schema, file="f")
    assert found == {
        ("class", "zz_not_a_module.Estimator"),
        ("ListNode", "builtins.list"),
        ("DictNode", "builtins.dict"),
        ("function", "numpy.log1p"),
        ("method", "zz_other.Thing.run"),
        ("class", "zz_other.Thing"),
        ("RandomGeneratorNode", "numpy.random._generator.Generator"),
        ("bit_generator", "numpy.random.PCG64"),
    }
    assert "zz_not_a_module" not in sys.modules and "zz_other" not in sys.modules


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = _node("JsonNode", "builtins.int", content="1")
    for _ in range(depth):
        node = _node("ListNode", "builtins.list", content=[node])
    return node


@pytest.mark.parametrize(
    "schema, message",
    [
        (_node("EvalNode", "builtins.eval"), "a node of kind 'EvalNode', which mlpact never writes"),
        ({**_node("ObjectNode", "x.Y"), "__loader__": 5}, "a node of kind 5"),
        (
            _node("ObjectNode", "x.Y") | {"__module__": None},
            r"a node \(ObjectNode\) without a module and class name",
        ),
        (_node("MethodNode", "x.Y", content={"obj": {}}), "a MethodNode without a method name"),
        (
            _node("RandomGeneratorNode", "numpy.random._generator.Generator", content={}),
            "without its bit gen",
        ),
        (_nested(allowlist.MAX_DEPTH + 5), f"nested more than {allowlist.MAX_DEPTH} deep"),
        (
            _node("ObjectNode", "x.Y", content=_node("Q" * 5000, "a.b")),
            r"kind 'QQQQ.*\(4802 more characters\)",
        ),
    ],
)
def test_nodes_mlpact_never_writes_are_integrity_errors(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(IntegrityError, match=message):
        allowlist.needed(schema, file="f")


@pytest.mark.parametrize(
    "source, message",
    [
        (io.BytesIO(b"PK not a zip"), "not a readable skops file"),
        (_zip("{not json"), "JSONDecodeError"),
        (_zip("[1, 2]"), "schema.json is not a node"),
        (_zip('{"__loader__": "ObjectNode"}'.ljust(200)), None),
    ],
)
def test_read_schema(source: io.BytesIO, message: str | None) -> None:
    if message is None:
        assert allowlist.read_schema(source, label="f")["__loader__"] == "ObjectNode"
        return
    with pytest.raises(IntegrityError, match=message):
        allowlist.read_schema(source, label="f")


def test_a_schema_claiming_too_many_bytes_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allowlist, "MAX_SCHEMA_BYTES", 100)
    with pytest.raises(IntegrityError, match="its schema.json claims 200 bytes; mlpact reads at most 100"):
        allowlist.read_schema(_zip(" " * 200), label="f")


# --------------------------------------------------------------------------- checking what is found
@pytest.fixture
def userpkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "userpkg").mkdir()
    (tmp_path / "userpkg" / "__init__.py").write_text("")
    (tmp_path / "userpkg" / "steps.py").write_text(
        textwrap.dedent(
            """
            import threading
            from sklearn.base import BaseEstimator
            from sklearn.preprocessing import StandardScaler as Scaler

            class Fine(BaseEstimator):
                pass

            class Worker(threading.Thread):
                pass

            def clean(x):
                return x
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "userpkg.steps"
    for name in [m for m in sys.modules if m.startswith("userpkg")]:
        del sys.modules[name]


@pytest.mark.parametrize(
    "kind, name, reason",
    [
        ("class", "userpkg.steps.Fine", None),
        ("function", "userpkg.steps.clean", None),
        ("class", "userpkg.steps.Worker", "built on a denied class"),  # a Thread by inheritance
        ("class", "userpkg.steps.Scaler", "re-exported from another module"),
        ("class", "userpkg.steps.Missing", "missing"),
        ("class", "userpkg.nope.Fine", "missing"),
    ],
)
def test_what_an_extra_name_finds_must_be_exactly_that_name(
    allow: allowlist.Allowlist, userpkg: str, kind: str, name: str, reason: str | None
) -> None:
    wider = allow.widened([name])
    if reason is None:
        assert allowlist.check({(kind, name)}, wider, file="f") == [name]
        return
    with pytest.raises(UntrustedTypesError, match=reason) as caught:
        allowlist.check({(kind, name)}, wider, file="f")
    assert caught.value.types == [name]


def test_denied_names_say_no_trust_can_allow_them(allow: allowlist.Allowlist) -> None:
    with pytest.raises(UntrustedTypesError, match=r"never loads.*\['numpy.memmap'\]") as caught:
        allowlist.check(
            {("class", "numpy.memmap"), ("class", "zz.Other")}, allow.widened(["numpy.memmap"]), file="f"
        )
    assert caught.value.hint is not None and caught.value.hint.startswith("No --trust can allow these")


def test_refused_names_are_listed_sorted_and_shortened(allow: allowlist.Allowlist) -> None:
    long = "zz." + "A" * 5000
    with pytest.raises(
        UntrustedTypesError, match=r"not in the trusted list: \['zz.AAA.*more characters\)', 'zz.b'\]"
    ):
        allowlist.check({("class", "zz.b"), ("class", long)}, allow, file="f")

"""The version format: hashing, the trust rule, and the fast skops import."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlpact import bundle
from mlpact.errors import UntrustedTypesError


def test_dump_refuses_a_pipeline_with_untrusted_types(tmp_path: Path) -> None:
    from sklearn.preprocessing import FunctionTransformer

    with pytest.raises(UntrustedTypesError, match=r"names mlpact never loads.*\['posix.getcwd'\]"):
        bundle.dump_pipeline(FunctionTransformer(func=os.getcwd), tmp_path)
    with pytest.raises(UntrustedTypesError, match=r"not in the trusted list: \['math.sqrt'\]"):
        bundle.dump_pipeline(FunctionTransformer(func=math.sqrt), tmp_path)
    assert not (tmp_path / bundle.PIPELINE).exists()
    assert bundle.dump_pipeline(FunctionTransformer(func=math.sqrt), tmp_path, allowed=["math:sqrt"]) == [
        "math.sqrt"
    ]  # named exactly (a config's model.type, mlpact.save's trust=): written, and recorded


def test_verify_detects_each_kind_of_change(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("b")
    bundle.write_manifest(tmp_path, {"name": "x"}, bundle.hash_files(tmp_path))
    assert set(bundle.verify(tmp_path)["files"]) == {"a.txt", "sub/b.txt"}
    (tmp_path / "sub" / "b.txt").write_text("B")
    with pytest.raises(Exception, match="changed: sub/b.txt"):
        bundle.verify(tmp_path)


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"files": 3}'])
def test_a_broken_manifest_is_an_integrity_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(Exception, match="manifest"):
        bundle.verify(tmp_path)


_DUMP_LISTS = (
    "import json, sys\n"
    "from mlpact.bundle import import_skops, _SKOPS_LISTS\n"
    "import_skops()\n"
    "t = sys.modules['skops.io._trusted_types']\n"
    "print(json.dumps({'from_cache': getattr(t, '__file__', None) is None,"
    " 'lists': {k: sorted(getattr(t, k)) for k in _SKOPS_LISTS}}))\n"
)


def _lists_in_fresh_process(cache: Path) -> dict[str, object]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", _DUMP_LISTS], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout)


def test_cached_skops_lists_equal_what_skops_computes(tmp_path: Path) -> None:
    first = _lists_in_fresh_process(tmp_path)
    assert first["from_cache"] is False
    assert list((tmp_path / "mlpact").glob("skops-trusted-*.json"))
    second = _lists_in_fresh_process(tmp_path)
    assert second["from_cache"] is True
    assert second["lists"] == first["lists"]


def test_a_poisoned_cache_is_ignored(tmp_path: Path) -> None:
    _lists_in_fresh_process(tmp_path)
    (cache,) = (tmp_path / "mlpact").glob("skops-trusted-*.json")
    good = json.loads(cache.read_text())
    assert bundle._read_skops_cache(cache) is not None
    for key, evil in [
        ("NUMPY_UFUNC_TYPE_NAMES", "numpy.load"),
        ("SKLEARN_ESTIMATOR_TYPE_NAMES", "os.system"),
        ("PRIMITIVE_TYPE_NAMES", "builtins.eval"),
        ("SCIPY_UFUNC_TYPE_NAMES", "scipy.io.loadmat"),
    ]:
        poisoned = {**good, key: [*good[key], evil]}
        cache.write_text(json.dumps(poisoned))
        assert bundle._read_skops_cache(cache) is None, evil
    cache.write_text(json.dumps(good))
    assert _lists_in_fresh_process(tmp_path)["from_cache"] is True


# --------------------------------------------------------------------------- vocabularies
def _text_pipeline(rows: int = 200):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(500)] + ["naïve", "日本", "a\\nb", '"q"']
    X = pd.DataFrame({c: [" ".join(rng.choice(words, 12)) for _ in range(rows)] for c in ("a", "b")})
    y = rng.integers(0, 2, rows)
    pre = ColumnTransformer([(c, TfidfVectorizer(token_pattern=r"\S+"), c) for c in ("a", "b")])
    return Pipeline([("pre", pre), ("model", LogisticRegression())]).fit(X, y), X


def test_vocabularies_are_saved_as_one_string_each_and_load_back(tmp_path: Path) -> None:
    import zipfile

    from mlpact.bundle import PIPELINE, dump_pipeline, load_pipeline

    pipeline, X = _text_pipeline()
    before = {c: dict(pipeline[0].named_transformers_[c].vocabulary_) for c in ("a", "b")}
    dump_pipeline(pipeline, tmp_path)
    assert {c: pipeline[0].named_transformers_[c].vocabulary_ for c in ("a", "b")} == before  # untouched
    with zipfile.ZipFile(tmp_path / PIPELINE) as z:
        assert len(z.namelist()) < 10  # not a file per term
        assert "numpy.int64" not in z.read("schema.json").decode()
    loaded = load_pipeline(tmp_path)  # scikit-learn's text classes are on the allowlist
    for c in ("a", "b"):
        assert loaded[0].named_transformers_[c].vocabulary_ == before[c]
    assert (loaded.predict_proba(X) == pipeline.predict_proba(X)).all()


def test_a_vocabulary_that_is_not_a_list_of_terms_is_refused() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from mlpact.bundle import VOCABULARY_TERMS, restore_vocabularies
    from mlpact.errors import IntegrityError

    vectorizer = TfidfVectorizer()
    setattr(vectorizer, VOCABULARY_TERMS, '{"not": "a list"}')
    with pytest.raises(
        IntegrityError, match="vocabulary of a TfidfVectorizer in pipeline.skops is not a list"
    ):
        restore_vocabularies(vectorizer)

"""The on-disk format of a version: its files, manifest, integrity check and trust rule.

A version directory holds manifest.json (the sha256 of every other file), pipeline.skops,
schema.json, metrics.json, config.yaml, lineage.json and card.md. Hashes are checked before
anything is deserialised; skops rebuilds a pipeline only when every name in it passes the
allowlist (`mlpact.allowlist`), and its trees are checked before first use (`mlpact.treecheck`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from numbers import Integral
from pathlib import Path
from types import ModuleType
from typing import Any

from mlpact import allowlist, treecheck
from mlpact.errors import IntegrityError, UntrustedTypesError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PIPELINE = "pipeline.skops"


# --------------------------------------------------------------------------- skops
# Lists skops computes when it is imported, and the prefix every cached name must carry.
_SKOPS_LISTS = {
    "PRIMITIVE_TYPE_NAMES": "builtins.",
    "CONTAINER_TYPE_NAMES": "builtins.",
    "SKLEARN_ESTIMATOR_TYPE_NAMES": "sklearn.",
    "SKLEARN_INTERNAL_TYPE_NAMES": "sklearn.",
    "SCIPY_UFUNC_TYPE_NAMES": "scipy.",
    "NUMPY_UFUNC_TYPE_NAMES": "numpy.",
    "NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES": "numpy.random.",
    "NUMPY_DTYPE_TYPE_NAMES": "numpy.",
}
_SKOPS_TRUSTED = "skops.io._trusted_types"
_DOTTED = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+$")


def import_skops() -> ModuleType:
    """Import ``skops.io``, skipping the second it spends building its default trusted lists.

    When imported, skops computes its default trusted type names by importing every
    scikit-learn estimator module and scanning NumPy and SciPy: over a second of a cold process
    that only loads one pipeline, which would make ``mlpact.load`` + predict ~1.4x slower than
    ``joblib.load`` + predict. The lists depend only on the installed versions, so mlpact caches
    them (``~/.cache/mlpact``, keyed by the skops, scikit-learn, NumPy and SciPy versions) and
    provides skops' list module from the cache. Cached names are checked before use: each must
    carry its list's prefix, estimator names must be class names, and NumPy/SciPy names must
    resolve to ufuncs, dtypes or bit generators; otherwise skops is imported the slow way.
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    cache = _skops_cache_file()
    lists = _read_skops_cache(cache)
    if lists is not None:
        sys.modules[_SKOPS_TRUSTED] = _trusted_types_module(lists)
        try:
            importlib.import_module("skops.io")
            return sys.modules["skops.io"]
        except Exception:  # any surprise: forget the stand-in and import the real way
            for name in [m for m in sys.modules if m.startswith("skops.io")]:
                del sys.modules[name]
    skops_io = importlib.import_module("skops.io")
    trusted = sys.modules[_SKOPS_TRUSTED]
    _write_skops_cache(cache, {k: list(getattr(trusted, k)) for k in _SKOPS_LISTS})
    return skops_io


def _trusted_types_module(lists: Mapping[str, list[str]]) -> ModuleType:
    module = ModuleType(_SKOPS_TRUSTED, "skops' default trusted type names, from mlpact's cache")
    module.PRIMITIVES_TYPES = [int, float, str, bool]  # type: ignore[attr-defined]
    module.CONTAINER_TYPES = [list, set, map, tuple]  # type: ignore[attr-defined]
    for key, names in lists.items():
        setattr(module, key, list(names))
    return module


def _skops_cache_file() -> Path | None:
    try:
        versions = "-".join(metadata.version(p) for p in ("skops", "scikit-learn", "numpy", "scipy"))
    except metadata.PackageNotFoundError:
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mlpact" / f"skops-trusted-{versions}.json"


def _read_skops_cache(path: Path | None) -> dict[str, list[str]] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or set(data) != set(_SKOPS_LISTS):
        return None
    for key, prefix in _SKOPS_LISTS.items():
        names = data[key]
        if not isinstance(names, list) or not all(
            isinstance(n, str) and n.startswith(prefix) and _DOTTED.match(n) for n in names
        ):
            return None
    if not _cached_names_are_real(data):
        return None
    return data


def _cached_names_are_real(data: Mapping[str, list[str]]) -> bool:
    """Check cached names against what they claim to be, without importing scikit-learn."""
    import numpy as np

    if data["PRIMITIVE_TYPE_NAMES"] != ["builtins.int", "builtins.float", "builtins.str", "builtins.bool"]:
        return False
    if data["CONTAINER_TYPE_NAMES"] != ["builtins.list", "builtins.set", "builtins.map", "builtins.tuple"]:
        return False
    estimators = data["SKLEARN_ESTIMATOR_TYPE_NAMES"] + data["SKLEARN_INTERNAL_TYPE_NAMES"]
    if not all(n.rpartition(".")[2].lstrip("_")[:1].isupper() for n in estimators):
        return False
    checks: dict[str, Callable[[Any], bool]] = {
        "NUMPY_UFUNC_TYPE_NAMES": lambda o: isinstance(o, np.ufunc),
        "SCIPY_UFUNC_TYPE_NAMES": lambda o: callable(o) and hasattr(o, "nin") and hasattr(o, "nout"),
        "NUMPY_DTYPE_TYPE_NAMES": lambda o: isinstance(o, type) and issubclass(o, np.generic),
        "NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES": lambda o: (
            isinstance(o, type) and issubclass(o, np.random.BitGenerator)
        ),
    }
    for key, ok in checks.items():
        for name in data[key]:
            module, _, attr = name.rpartition(".")
            try:
                obj = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError):
                return False
            if not ok(obj):
                return False
    return True


def _write_skops_cache(path: Path | None, lists: Mapping[str, list[str]]) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(lists), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs speed


# --------------------------------------------------------------------------- writing
def write_json(path: Path, data: Any) -> None:
    """Write JSON (sorted keys, NaN as null-free strings are the caller's business) and fsync."""
    write_bytes(path, (json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n").encode())


def write_bytes(path: Path, data: bytes) -> None:
    """Write a file and fsync it, so a completed save survives a crash."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dump_pipeline(pipeline: Any, directory: Path, *, allowed: Iterable[str] = ()) -> list[str]:
    """Write the pipeline with skops; return the types it needs beyond skops' defaults.

    Args:
        allowed: exact names beyond mlpact's allowlist that the pipeline may hold: the classes
            the config names (``model.type``, ``features.custom``) and ``trust=``.

    Raises:
        UntrustedTypesError: the pipeline holds a name that loading it would refuse.
    """
    sio = import_skops()
    with compact_vocabularies(pipeline):
        data = sio.dumps(pipeline)
    found = allowlist.needed(allowlist.read_schema(io.BytesIO(data), label=PIPELINE), file=PIPELINE)
    try:
        allowlist.check(found, allowed_names().widened(allowed), file=PIPELINE)
    except UntrustedTypesError as exc:
        if not any(allowlist.denied(t) for t in exc.types):
            exc.hint = (
                "If these are your own classes or functions, kept by your custom steps, name each "
                "exactly in the config's `code.trust` (mlpact.save: trust=[...]); the version then "
                "loads with exactly those trusted."
            )
        raise
    write_bytes(directory / PIPELINE, data)
    return sorted(sio.get_untrusted_types(data=data))


@functools.cache
def allowed_names() -> allowlist.Allowlist:
    """mlpact's own allowlist for the installed libraries (see `mlpact.allowlist.builtin`)."""
    import_skops()
    lists = sys.modules[_SKOPS_TRUSTED]
    return allowlist.builtin({key: list(getattr(lists, key)) for key in _SKOPS_LISTS})


# skops writes a dict value by value (a state object each: a 20,000-term TF-IDF vocabulary took
# seconds and megabytes, one file per term when the values were numpy integers). A fitted
# vectorizer's vocabulary maps each term to its column, 0..n-1, so the terms in column order say
# it all: they are saved as one JSON string under this attribute, and rebuilt on load.
VOCABULARY_TERMS = "_mlpact_vocabulary_terms"


@contextmanager
def compact_vocabularies(obj: Any) -> Iterator[None]:
    """Within the block, every fitted vectorizer in `obj` holds its vocabulary as one JSON string
    of terms in column order (plain builtins: no new types to trust); restored afterwards."""
    swapped = []
    for est in _vectorizers(obj):
        terms = _terms_in_order(est.vocabulary_)
        if terms is not None:
            swapped.append((est, est.__dict__.pop("vocabulary_")))
            setattr(est, VOCABULARY_TERMS, json.dumps(terms, ensure_ascii=False))
    try:
        yield
    finally:
        for est, vocabulary in swapped:
            est.__dict__.pop(VOCABULARY_TERMS, None)
            est.vocabulary_ = vocabulary


def restore_vocabularies(obj: Any) -> Any:
    """Rebuild the vocabularies `compact_vocabularies` saved as strings; returns `obj`.

    Raises:
        IntegrityError: a saved vocabulary is not a JSON list of strings.
    """
    for est in _estimators(obj):
        text = est.__dict__.pop(VOCABULARY_TERMS, None)
        if text is None:
            continue
        try:
            terms = json.loads(text)
        except (TypeError, ValueError):
            terms = None
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            raise IntegrityError(
                f"The vocabulary of a {type(est).__name__} in {PIPELINE} is not a list of terms."
            )
        est.vocabulary_ = {term: i for i, term in enumerate(terms)}
    return obj


def _terms_in_order(vocabulary: Any) -> list[str] | None:
    """The terms by column when the vocabulary maps str terms to exactly 0..n-1; else None."""
    if not isinstance(vocabulary, dict) or not all(isinstance(t, str) for t in vocabulary):
        return None
    terms: list[str | None] = [None] * len(vocabulary)
    for term, column in vocabulary.items():
        index = int(column) if isinstance(column, Integral) else -1
        if not 0 <= index < len(terms) or terms[index] is not None:
            return None
        terms[index] = term
    return terms  # type: ignore[return-value]


def _vectorizers(obj: Any) -> Iterator[Any]:
    from sklearn.feature_extraction.text import CountVectorizer

    return (e for e in _estimators(obj) if isinstance(e, CountVectorizer) and "vocabulary_" in e.__dict__)


def _estimators(obj: Any) -> Iterator[Any]:
    """Every scikit-learn estimator reachable from `obj` (pipelines, column transformers, wrappers)."""
    from sklearn.base import BaseEstimator

    seen: set[int] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, BaseEstimator):
            yield item
            stack.extend(item.__dict__.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return sha256_stream(fh)


def sha256_stream(fh: io.BufferedIOBase) -> str:
    """The sha256 of a binary file object's remaining bytes (a local file or an fsspec object)."""
    return hashlib.file_digest(fh, "sha256").hexdigest()


def hash_files(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory` except the manifest, by relative POSIX path."""
    out = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            out[path.relative_to(directory).as_posix()] = sha256_file(path)
    return out


def write_manifest(directory: Path, meta: Mapping[str, Any], files: Mapping[str, str]) -> dict[str, Any]:
    """Write manifest.json: the version's identity plus the sha256 of every file."""
    manifest = {"format": FORMAT_VERSION, **meta, "files": dict(sorted(files.items()))}
    write_json(directory / MANIFEST, manifest)
    return manifest


def manifest_digest(directory: Path) -> str:
    """The sha256 of manifest.json: one digest for the whole version."""
    return sha256_file(directory / MANIFEST)


# --------------------------------------------------------------------------- reading
def safe_yaml(text: str) -> Any:
    """Parse YAML with the safe loader (libyaml's C version when available: same rules, faster)."""
    import yaml

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except RecursionError:  # "[[[[..." thousands deep: a parse error like any other
        raise yaml.YAMLError("the document is nested too deeply to read") from None


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IntegrityError(f"{directory} is not a model version: it has no {MANIFEST}.") from None
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{path} cannot be read as JSON: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise IntegrityError(f"{path} is not a valid manifest: it has no 'files' mapping.")
    return manifest


def verify(directory: Path) -> dict[str, Any]:
    """Re-hash every file of a version against its manifest, before anything is deserialised.

    Returns:
        The manifest.

    Raises:
        IntegrityError: naming every file that changed, is missing or was added.
    """
    manifest = read_manifest(directory)
    recorded: dict[str, str] = manifest["files"]
    actual = hash_files(directory)
    changed = sorted(n for n in recorded if n in actual and actual[n] != recorded[n])
    missing = sorted(set(recorded) - set(actual))
    added = sorted(set(actual) - set(recorded))
    if changed or missing or added:
        parts = [
            f"{label}: {', '.join(names)}"
            for label, names in (("changed", changed), ("missing", missing), ("unexpected", added))
            if names
        ]
        raise IntegrityError(
            f"Version at {directory} does not match its manifest ({'; '.join(parts)}). Refusing to load it.",
            hint="Restore the files from a backup or an export, or train the model again.",
        )
    return manifest


def read_json(directory: Path, name: str) -> Any:
    """One JSON file of a version; IntegrityError (not a parser's traceback) when it is not JSON."""
    try:
        return json.loads((directory / name).read_text(encoding="utf-8"))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise IntegrityError(f"{directory / name} cannot be read as JSON: {exc}") from None


def read_mapping(directory: Path, name: str) -> dict[str, Any]:
    """A JSON file of a version that must hold an object (metrics.json, lineage.json ...)."""
    data = read_json(directory, name)
    if not isinstance(data, dict):
        raise IntegrityError(f"{directory / name} is not what mlpact writes: expected a JSON object.")
    return data


def read_config(directory: Path) -> dict[str, Any]:
    """A version's config.yaml with the safe loader; IntegrityError when it is not plain YAML
    (a ``!!python/...`` tag is refused, never constructed)."""
    import yaml

    path = directory / "config.yaml"
    try:
        config = safe_yaml(path.read_text(encoding="utf-8"))
    except (ValueError, yaml.YAMLError) as exc:
        raise IntegrityError(f"{path} cannot be read as plain YAML: {exc}") from None
    if not isinstance(config, dict):
        raise IntegrityError(f"{path} is not what mlpact writes: expected a mapping of sections.")
    return config


def load_pipeline(directory: Path, *, trusted: Iterable[str] = ()) -> Any:
    """Load pipeline.skops: every name it would import is checked against the allowlist first,
    and its decision trees after it is rebuilt, before anything uses it.

    Args:
        directory: the version directory (already verified).
        trusted: exact names beyond mlpact's allowlist: what the store's index recorded when the
            version was saved, plus ``--trust``; never what the bundle itself says.

    Raises:
        IntegrityError: not a skops file mlpact can read, or a malformed tree.
        UntrustedTypesError: the file names a type that is denied or not allowed (nothing has
            been imported or built at that point).
    """
    sio = import_skops()
    path = directory / PIPELINE
    found = allowlist.needed(allowlist.read_schema(path), file=str(path))
    approved = allowlist.check(found, allowed_names().widened(trusted), file=str(path))
    pipeline = restore_vocabularies(sio.load(path, trusted=approved))
    treecheck.check(pipeline, file=str(path))
    return pipeline


def skops_types(directory: Path) -> list[str]:
    """The types pipeline.skops needs beyond skops' defaults (what the index records)."""
    return sorted(import_skops().get_untrusted_types(file=directory / PIPELINE))

"""A loaded version: integrity-checked files, the input contract, and predictions."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact import bundle
from mlpact.errors import DataError, IntegrityError, shorten
from mlpact.schema import Schema
from mlpact.store import Store, VersionRecord

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlpact.config import Config
    from mlpact.schema import ValidationReport

PROBA_PREFIX = "proba_"


class InputWarning(UserWarning):
    """Input rows had problems the validation policy lets through (e.g. unseen categories)."""


class Model:
    """A saved version, loaded: its pipeline, schema, metrics, config and lineage."""

    def __init__(
        self,
        path: Path,
        manifest: Mapping[str, Any],
        pipeline: Any,
        *,
        record: VersionRecord | None = None,
        raw_config: Mapping[str, Any] | None = None,
        lineage: Mapping[str, Any] | None = None,
    ) -> None:
        """`raw_config` and `lineage`: the files as already read by the caller (else read here)."""
        self.path = path
        self.manifest = dict(manifest)
        self.pipeline = pipeline
        self.record = record
        self.schema = _read_schema(path)
        self.metrics: dict[str, Any] = bundle.read_mapping(path, "metrics.json")
        self.lineage: dict[str, Any] = (
            dict(lineage) if lineage is not None else bundle.read_mapping(path, "lineage.json")
        )
        if raw_config is None:
            raw_config = bundle.read_config(path)
        self._raw_config: dict[str, Any] = dict(raw_config or {})
        self._config: Config | None = None
        from mlpact import decision

        self.decision = decision.read(path, self.manifest)

    # ----------------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> int:
        return int(self.manifest["version"])

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def task(self) -> str:
        return self.schema.target.task if self.schema.target else "regression"

    @property
    def classes(self) -> list[Any] | None:
        classes = getattr(self.pipeline, "classes_", None)
        return [_plain(c) for c in classes] if classes is not None else None

    @property
    def config(self) -> Config:
        """The resolved config saved with this version (validated on first use)."""
        if self._config is None:
            from mlpact.config import validate_config

            self._config = validate_config(self._raw_config, label=str(self.path / "config.yaml"))
        return self._config

    @property
    def policy(self) -> Mapping[str, str]:
        """The validation policy saved with this version: error, warn or ignore per check.

        Read from the saved (fully resolved, hash-verified) config without building the whole
        config model, so a cold process predicting one row stays fast.
        """
        from mlpact.schema import CHECKS

        saved = self._raw_config.get("validation") or {}
        if not all(saved.get(c) in ("error", "warn", "ignore") for c in CHECKS):
            return {c: getattr(self.config.validation, c) for c in CHECKS}
        return {c: saved[c] for c in CHECKS}

    def __repr__(self) -> str:
        return f"Model({self.ref!r}, task={self.task!r}, path={str(self.path)!r})"

    def _repr_html_(self) -> str:
        """A summary card in Jupyter: identity, headline metrics, inputs, lineage."""
        from html import escape

        from mlpact.report import fmt

        primary = self.metrics.get("primary", "")
        cv = (self.metrics.get("cv", {}).get("metrics") or {}).get(primary) or {}
        base = (self.metrics.get("baseline") or {}).get("test", {}).get(primary)
        data = self.lineage.get("data", {})
        aliases = (
            ", ".join(self.record.aliases) if self.record is not None and self.record.aliases else "none"
        )
        rows = [
            ("task", self.task),
            ("estimator", self.config.model.type),
            (f"test {primary}", fmt(self.metrics.get("test", {}).get(primary))),
            (f"CV {primary}", f"{fmt(cv.get('mean'))} ± {fmt(cv.get('std'))}" if cv else "-"),
            (f"baseline {primary}", fmt(base)),
            ("inputs", ", ".join(self.schema.names[:12]) + (" ..." if len(self.schema.names) > 12 else "")),
            ("data", f"{data.get('source')} ({data.get('rows')} rows, {str(data.get('fingerprint'))[:12]})"),
            ("aliases", aliases),
            ("created", str(self.manifest.get("created"))),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows
        )
        return f"<div><b>mlpact model {escape(self.ref)}</b><table>{body}</table></div>"

    def report(self, *, height: int = 900) -> Any:
        """The version's report.html, shown inline in Jupyter (in an iframe)."""
        from mlpact.errors import NotFoundError
        from mlpact.frames import InlineHTML

        page = self.path / "report.html"
        if not page.exists():
            raise NotFoundError(f"{self.ref} has no report.html.", hint=f"Run `mlpact report {self.ref}`.")
        return InlineHTML(page.read_text(encoding="utf-8"), height=height)

    # ----------------------------------------------------------------------- predicting
    def check(
        self, data: Any, *, ignore: Iterable[str] = (), row_offset: int = 0
    ) -> tuple[pd.DataFrame, ValidationReport]:
        """Coerce input to the training dtypes and validate it under the version's policy."""
        from mlpact.schema import check

        skip = {*ignore, *([self.schema.target.name] if self.schema.target else [])}
        records = [data] if isinstance(data, Mapping) else data
        if isinstance(records, list) and records and all(isinstance(r, Mapping) for r in records):
            fast = _check_records(records, self.schema, self.policy, skip)
            if fast is not None:
                return fast
        return check(as_frame(data), self.schema, self.policy, ignore=skip, row_offset=row_offset)

    def validate(self, data: Any, *, ignore: Iterable[str] = ()) -> ValidationReport:
        """Check input rows against the schema under the version's validation policy."""
        return self.check(data, ignore=ignore)[1]

    def prepare(self, data: Any, *, check: bool = True) -> pd.DataFrame:
        """Validate (errors raise, warnings warn) and coerce input to the training dtypes."""
        from mlpact.schema import coerce

        if not check:
            return coerce(as_frame(data), self.schema)
        X, report = self.check(data)
        report.raise_for_errors()
        if report.warnings:
            warnings.warn(
                "Input has problems the validation policy allows:\n" + report.format(),
                InputWarning,
                stacklevel=3,
            )
        return X

    def predict(self, data: Any, *, check: bool = True) -> np.ndarray:
        """Predicted labels or values for input rows (a DataFrame, a record or a list of records).

        Raises:
            InputValidationError: the input does not match the schema (every problem listed).
        """
        import numpy as np

        X = self.prepare(data, check=check)
        with _scoring(self.ref):
            if self.decision is not None and len(X):
                return self.decide(self.pipeline.predict_proba(X))
            return np.asarray(self.pipeline.predict(X))

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Labels for class probabilities: the saved decision (see `mlpact.decision`), else argmax."""
        classes = self.pipeline.classes_
        return self.decision.apply(proba, classes) if self.decision else classes[proba.argmax(axis=1)]

    def errors(self, n: int = 20, *, join: bool = True) -> pd.DataFrame:
        """The `n` worst-predicted test rows, worst first (see `mlpact.inspection.errors`)."""
        from mlpact.inspection import errors

        return errors(self, n=n, join=join)

    def predict_proba(self, data: Any, *, check: bool = True) -> pd.DataFrame:
        """Class probabilities, one column per class (classifiers only)."""
        import pandas as pd

        if not hasattr(self.pipeline, "predict_proba") or self.task != "classification":
            raise DataError(f"{self.ref} is not a classifier with probabilities.")
        frame = self.prepare(data, check=check)
        with _scoring(self.ref):
            proba = self.pipeline.predict_proba(frame)
        return pd.DataFrame(proba, columns=self.classes, index=frame.index)

    def predict_frame(self, data: Any, *, check: bool = True, keep: Sequence[str] = ()) -> pd.DataFrame:
        """Kept columns, then `prediction`, then `proba_<class>` per class for classifiers."""

        frame = as_frame(data)
        X = self.prepare(frame, check=check)
        return self.output_frame(X, frame[list(keep)] if keep else None)

    def output_frame(self, X: pd.DataFrame, kept: pd.DataFrame | None = None) -> pd.DataFrame:
        """Predictions for already-coerced rows, as the output table."""
        import numpy as np
        import pandas as pd

        cols: dict[str, Any] = {} if kept is None else {c: kept[c].to_numpy() for c in kept.columns}
        if len(X) == 0:  # scikit-learn refuses empty input; the output table still has its columns
            classes = getattr(self.pipeline, "classes_", None)
            cols["prediction"] = np.empty(0, dtype=classes.dtype if classes is not None else float)
            for cls in classes if classes is not None and hasattr(self.pipeline, "predict_proba") else []:
                cols[f"{PROBA_PREFIX}{_plain(cls)}"] = np.empty(0)
        elif self.task == "classification" and hasattr(self.pipeline, "predict_proba"):
            with _scoring(self.ref):
                proba = self.pipeline.predict_proba(X)
            classes = self.pipeline.classes_
            cols["prediction"] = self.decide(proba)
            for i, cls in enumerate(classes):
                cols[f"{PROBA_PREFIX}{_plain(cls)}"] = proba[:, i]
        else:
            with _scoring(self.ref):
                cols["prediction"] = self.pipeline.predict(X)
        return pd.DataFrame(cols, index=X.index)


def as_frame(data: Any) -> pd.DataFrame:
    """Normalise input: a DataFrame, one record (mapping) or a list of records."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        return pd.DataFrame([data])
    if isinstance(data, list) and all(isinstance(r, Mapping) for r in data):
        return pd.DataFrame(data)
    raise DataError(
        f"Expected a pandas DataFrame, a record (dict) or a list of records, got {type(data).__name__}."
    )


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


# --------------------------------------------------------------------------- records fast path
# Records (a dict or a list of dicts, as an HTTP request carries them) are common and small, and
# building a DataFrame first and then converting every column with pandas costs more than scoring
# one row. When every value already has its column's plain Python type and nothing would be
# reported per value, the coerced frame is built directly from the values. Anything else (a value
# needing pandas' conversion rules, a missing column, any per-value finding) returns None and goes
# through `mlpact.schema.check`, so the result and the report are the same either way
# (tests/test_serve.py compares both paths on generated records).
_MISSING = object()


def _check_records(
    records: Sequence[Mapping[Any, Any]], schema: Schema, policy: Mapping[str, str], skip: set[str]
) -> tuple[pd.DataFrame, ValidationReport] | None:
    """The coerced frame and report for clean records, or None to take the general path."""
    import pandas as pd

    from mlpact.schema import Problem, ValidationReport

    columns: dict[str, Any] = {}
    for col in schema.columns:
        values = [r.get(col.name, _MISSING) for r in records]
        converted = _fast_column(values, col)
        if converted is None:
            return None
        columns[col.name] = converted
    report = ValidationReport(rows=len(records))
    level = policy["extra_column"]
    if level != "ignore":
        known = {*schema.names, *skip}
        for name in dict.fromkeys(k for r in records for k in r if k not in known):
            report.problems.append(
                Problem("extra_column", str(name), 0, level, "column is not used by the model")
            )
    index = pd.RangeIndex(len(records))
    for series in columns.values():
        if isinstance(series, pd.Series):
            series.index = index
    return pd.DataFrame(columns, index=index), report


def _fast_column(values: list[Any], col: Any) -> Any:
    """One column's coerced values when no value needs pandas and no check would report; else None."""
    if all(v is _MISSING for v in values):
        return None
    values = [None if v is _MISSING or (isinstance(v, float) and v != v) else v for v in values]
    if not col.nullable and None in values:
        return None
    if col.categories is not None and col.type not in ("category", "string"):
        return None
    converter = _FAST_CONVERTERS.get(col.type)
    return converter(values, col) if converter is not None else None


_NUMBER_TYPES = {int, float, type(None)}


def _fast_numbers(values: list[Any], col: Any) -> Any:
    import numpy as np

    types = set(map(type, values))
    if not types <= _NUMBER_TYPES or (
        int in types and any(type(v) is int and abs(v) >= 2**53 for v in values)
    ):
        return None
    numbers = np.array(values, dtype="float64")  # None becomes NaN
    if np.isinf(numbers).any():  # the general path reports inf as unconvertible
        return None
    return numbers if _in_range(numbers, col) else None


def _fast_bools(values: list[Any], col: Any) -> Any:
    import numpy as np

    from mlpact.schema import BOOL_TEXT

    out = []
    for v in values:
        if v is None or type(v) is bool:
            out.append(np.nan if v is None else float(v))
        elif type(v) is str and v.strip().lower() in BOOL_TEXT:
            out.append(BOOL_TEXT[v.strip().lower()])
        else:
            return None
    numbers = np.array(out, dtype="float64")
    return numbers if _in_range(numbers, col) else None


def _in_range(numbers: np.ndarray, col: Any) -> bool:
    if col.min is None or col.max is None:
        return True
    present = numbers[~(numbers != numbers)]
    return bool(((present >= col.min) & (present <= col.max)).all())


def _fast_strings(values: list[Any], col: Any) -> Any:
    import numpy as np

    if not all(v is None or type(v) is str for v in values):
        return None
    if col.categories is not None:
        allowed = set(col.categories)
        if not all(v is None or v in allowed for v in values):
            return None
    import pandas as pd

    fill: Any = "" if col.type == "text" else np.nan
    out = np.empty(len(values), dtype=object)
    out[:] = [fill if v is None else v for v in values]
    return pd.Series(out, dtype=object, copy=False)  # an ndarray alone would become pandas' str dtype


def _fast_datetimes(values: list[Any], col: Any) -> Any:
    import numpy as np
    import pandas as pd

    from mlpact.schema import coerce_series

    if not all(v is None or type(v) is str for v in values):
        return None
    raw = pd.Series([np.nan if v is None else v for v in values], dtype=object)
    converted = coerce_series(raw, "datetime")
    if bool((converted.isna() & raw.notna()).any()):
        return None
    return converted.to_numpy()


_FAST_CONVERTERS = {
    "int": _fast_numbers,
    "float": _fast_numbers,
    "bool": _fast_bools,
    "category": _fast_strings,
    "string": _fast_strings,
    "text": _fast_strings,
    "datetime": _fast_datetimes,
}


def load(
    ref: str | Path,
    *,
    store: str | Path | Store | None = None,
    trust: Iterable[str] = (),
) -> Model:
    """Load a version after checking every file's sha256.

    Args:
        ref: ``name`` (latest), ``name:3``, ``name@alias``, or the path of a version folder.
        store: the store to resolve names in (default ``$MLPACT_HOME`` or ``./.mlpact``).
        trust: extra type names to trust when deserialising (use only for files you trust).

    Raises:
        NotFoundError: no such model, version or alias.
        IntegrityError: a file changed, is missing, or the manifest differs from the digest the
            index recorded; code the version uses changed and its `code.on_change` is `error`.
        UntrustedTypesError: the pipeline needs a type that is not trusted (see `mlpact.trust`).
    """
    from mlpact import trust as trust_rule
    from mlpact import usercode

    text = str(ref)
    if isinstance(ref, Path) or "/" in text or "\\" in text or text.startswith("."):
        directory = Path(ref).expanduser().resolve()
        record = trust_rule.record_of(directory)  # a folder of a store answers to its index
    else:
        st = Store.open(store)
        record = st.resolve(text)
        directory = st.local_dir(record)
    manifest = bundle.verify(directory)
    if record is not None:
        trust_rule.check_digest(record, directory)
    usercode.add_project_paths(Path.cwd())
    config = bundle.read_config(directory)
    named = trust_rule.trusted_paths(record, config)
    lineage = bundle.read_mapping(directory, "lineage.json")
    on_change = str((config.get("code") or {}).get("on_change", "warn"))
    ident = f"{manifest.get('name')}:{manifest.get('version')}"
    usercode.verify(lineage.get("code") or [], ref=ident, named=[*named, *trust], on_change=on_change)
    if manifest.get("flavor") == "torch":
        from mlpact.torch import load_version

        return load_version(  # type: ignore[no-any-return]
            directory, manifest, record=record, raw_config=config, lineage=lineage, trust=trust, allowed=named
        )
    from mlpact.errors import MlpactError

    try:
        pipeline = bundle.load_pipeline(directory, trusted=trust_rule.extra_types(record, named, trust))
    except MlpactError:
        raise
    except Exception as exc:  # the libraries installed here cannot rebuild what was saved
        saved = Model(directory, manifest, None, record=record, raw_config=config, lineage=lineage)
        raise LibraryVersionError(saved, exc) from exc
    return Model(directory, manifest, pipeline, record=record, raw_config=config, lineage=lineage)


@contextlib.contextmanager
def _scoring(ref: str) -> Iterator[None]:
    """Rows that pass the schema can still break the pipeline (a finite 1e308 scaled to inf):
    that is bad input, said as such, not a scikit-learn traceback."""
    try:
        yield
    except (ValueError, OverflowError) as exc:
        raise DataError(
            f"{ref} could not score this input although it passed the schema checks "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}).",
            hint="Look for extreme or non-finite numbers in the input.",
        ) from exc


def _read_schema(path: Path) -> Schema:
    """schema.json as a Schema; a file mlpact did not write is an IntegrityError, not a KeyError."""
    try:
        return Schema.from_dict(bundle.read_json(path, "schema.json"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IntegrityError(
            f"{path / 'schema.json'} is not a schema mlpact writes ({type(exc).__name__}: {exc})."
        ) from None


class LibraryVersionError(IntegrityError):
    """A version's pipeline cannot be deserialised with the libraries installed here.

    `model` is the version without its pipeline (schema, metrics, config and lineage), which is
    all `mlpact reproduce` needs to retrain it here.
    """

    def __init__(self, saved: Model, cause: BaseException) -> None:
        from mlpact.lineage import package_versions

        self.model = saved
        packages = (saved.lineage.get("environment") or {}).get("packages") or {}
        was = shorten(packages.get("scikit-learn") or "an unrecorded version", 40)
        now = package_versions(("scikit-learn",))["scikit-learn"] or "none"
        if was == now:  # same library: the file, not the environment, is what is wrong
            super().__init__(
                f"Cannot load {saved.ref}: its pipeline cannot be rebuilt although it was saved with "
                f"the scikit-learn installed here ({now}) ({type(cause).__name__}: {shorten(cause)}). "
                "It was not written by mlpact from a fitted model, or it is damaged.",
                hint="Restore the version from a backup, or export it again from its original store.",
            )
            return
        super().__init__(
            f"Cannot load {saved.ref}: its pipeline was saved with scikit-learn {was} and this "
            f"environment has scikit-learn {now}; deserialising it failed "
            f"({type(cause).__name__}: {shorten(cause)}).",
            hint=f"Install scikit-learn=={was} to use it as it is, or retrain it here from its "
            f"recorded config and data and compare with the original: `mlpact reproduce {saved.ref}`.",
        )

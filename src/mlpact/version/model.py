"""A loaded version: integrity-checked files, the input contract, and predictions."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from mlpact._core import files
from mlpact._core.html import InlineHTML, escape, fmt
from mlpact._core.metrics import MetricsFile, plain
from mlpact.data.schema import BOOL_TEXT, Schema, coerce, coerce_series
from mlpact.data.sources import check_values
from mlpact.data.validation import CHECKS, ValidationReport, check, check_records
from mlpact.errors import DataError, InputWarning, IntegrityError, NotFoundError
from mlpact.learn import decision
from mlpact.store import VersionRecord
from mlpact.version import bundle, rowsplit
from mlpact.version.inspection import errors
from mlpact.version.rowpath import is_built, row_path

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlpact.config import Config
    from mlpact.data.validation import ValidationReport

PROBA_PREFIX = "proba_"
#: From this many rows, `Model.score_rows` builds and uses the pipeline's compiled form
#: (`mlpact.version.rowpath`): below it, building that form (a few hundred probe rows through the
#: pipeline, once per loaded model) costs more than it saves.
BATCH_ROWS = 1_000


class Scores(NamedTuple):
    """What `Model.score_rows` computed for a frame of coerced rows."""

    predictions: np.ndarray
    #: Class probabilities (a classifier scored with `proba=True`), else None.
    proba: np.ndarray | None
    #: True when the compiled form scored these rows; False when scikit-learn's pipeline did.
    compiled: bool
    #: Threads the estimator scored the rows on, in blocks (`mlpact.version.rowsplit`).
    threads: int = 1


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
        self.metrics = cast(MetricsFile, files.read_mapping(path, "metrics.json"))
        self.lineage: dict[str, Any] = (
            dict(lineage) if lineage is not None else files.read_mapping(path, "lineage.json")
        )
        if raw_config is None:
            raw_config = bundle.read_config(path)
        self._raw_config: dict[str, Any] = dict(raw_config or {})
        self._config: Config | None = None

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
        return [plain(c) for c in classes] if classes is not None else None

    @property
    def config(self) -> Config:
        """The resolved config saved with this version (validated on first use)."""
        if self._config is None:
            from mlpact.config import validate_config  # pydantic: only when the config is asked for

            self._config = validate_config(self._raw_config, label=str(self.path / "config.yaml"))
        return self._config

    @property
    def compiled(self) -> bool:
        """The version's `predict.compiled`: may large batches score through the compiled pipeline?

        Read from the saved config without building the config model (see `policy`)."""
        saved = self._raw_config.get("predict") or {}
        return bool(saved.get("compiled", True)) if isinstance(saved, Mapping) else True

    @property
    def policy(self) -> Mapping[str, str]:
        """The validation policy saved with this version: error, warn or ignore per check.

        Read from the saved (fully resolved, hash-verified) config without building the whole
        config model, so a cold process predicting one row stays fast.
        """

        saved = self._raw_config.get("validation") or {}
        if not all(saved.get(c) in ("error", "warn", "ignore") for c in CHECKS):
            return {c: getattr(self.config.validation, c) for c in CHECKS}
        return {c: saved[c] for c in CHECKS}

    def recorded_config(self) -> Config:
        """The version's config, its data source resolved where it was read at training time.

        A relative source keeps its text (so the config hash is the same) and gets the folder it was
        relative to; a source that cannot be expressed that way becomes the absolute path.
        """
        from mlpact.config import load_config

        cfg = self.config
        source, resolved = cfg.data.source, (self.lineage.get("data") or {}).get("resolved")
        if source.startswith("sklearn:") or not resolved:
            return cfg
        parts, full = Path(source).parts, Path(resolved)
        if not Path(source).is_absolute() and full.parts[-len(parts) :] == parts:
            return load_config(cfg.to_dict(), base_dir=Path(*full.parts[: -len(parts)]))
        raw = cfg.to_dict()
        raw["data"] = {**raw["data"], "source": str(full)}
        return load_config(raw, base_dir=full.parent)

    def __repr__(self) -> str:
        return f"Model({self.ref!r}, task={self.task!r}, path={str(self.path)!r})"

    def _repr_html_(self) -> str:
        """A summary card in Jupyter: identity, headline metrics, inputs, lineage."""
        metrics: dict[str, Any] = dict(self.metrics)
        primary = metrics.get("primary", "")
        cv = (metrics.get("cv", {}).get("metrics") or {}).get(primary) or {}
        base = (metrics.get("baseline") or {}).get("test", {}).get(primary)
        data = self.lineage.get("data", {})
        aliases = (
            ", ".join(self.record.aliases) if self.record is not None and self.record.aliases else "none"
        )
        rows = [
            ("task", self.task),
            ("estimator", self.config.model.type),
            (f"test {primary}", fmt(metrics.get("test", {}).get(primary))),
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

        page = self.path / "report.html"
        if not page.exists():
            raise NotFoundError(f"{self.ref} has no report.html.", hint=f"Run `mlpact report {self.ref}`.")
        return InlineHTML(page.read_text(encoding="utf-8"), height=height)

    # ----------------------------------------------------------------------- predicting
    def check(
        self, data: Any, *, ignore: Iterable[str] = (), row_offset: int = 0
    ) -> tuple[pd.DataFrame, ValidationReport]:
        """Coerce input to the training dtypes and validate it under the version's policy."""

        skip = {*ignore, *([self.schema.target.name] if self.schema.target else [])}
        records = [data] if isinstance(data, Mapping) else data
        if isinstance(records, list) and records and all(isinstance(r, Mapping) for r in records):
            fast = check_records(records, self.schema, self.policy, skip)
            if fast is not None:
                return fast
        return check(as_frame(data), self.schema, self.policy, ignore=skip, row_offset=row_offset)

    def validate(self, data: Any, *, ignore: Iterable[str] = ()) -> ValidationReport:
        """Check input rows against the schema under the version's validation policy."""
        return self.check(data, ignore=ignore)[1]

    def prepare(self, data: Any, *, check: bool = True) -> pd.DataFrame:
        """Validate (errors raise, warnings warn) and coerce input to the training dtypes."""

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

    def predict(self, data: Any, *, check: bool = True, compiled: bool | None = None) -> np.ndarray:
        """Predicted labels or values for input rows (a DataFrame, a record or a list of records).

        `compiled`: see `score_rows` (None: the version's `predict.compiled`).

        Raises:
            InputValidationError: the input does not match the schema (every problem listed).
        """
        import numpy as np

        X = self.prepare(data, check=check)
        if not len(X):  # scikit-learn refuses empty input
            return np.asarray(self.pipeline.predict(X))
        return self.score_rows(X, proba=self.decision is not None, compiled=compiled).predictions

    def score_rows(
        self, X: pd.DataFrame, *, proba: bool, compiled: bool | None = None, threads: int | None = None
    ) -> Scores:
        """Predictions for already-coerced, non-empty rows; with `proba` (classifiers with
        probabilities), also the class probabilities, and labels decided from them.

        From `BATCH_ROWS` rows (or once its compiled form is built: the last, shorter chunk of a
        file, say), a pipeline of the usual shape scores through its compiled form
        (`mlpact.version.rowpath`: the preprocessing replayed with numpy, proved on probe rows to
        give sklearn's exact matrix, so the estimator gives the exact same numbers). A frame with a
        value it was not compiled for (an unseen category, say) goes through the pipeline itself.
        `compiled=False` (or the version's `predict.compiled: false`) always uses the pipeline.

        A tree or forest scores large frames in blocks of rows on `threads` threads (None: every
        core this process may use; `mlpact.version.rowsplit`), with the same numbers as one call.
        """
        import numpy as np

        use = self.compiled if compiled is None else compiled
        large = len(X) >= BATCH_ROWS or is_built(self.pipeline)  # the last chunk of a file, say
        fast = row_path(self.pipeline) if use and large else None
        method = "predict_proba" if proba else "predict"
        n = rowsplit.threads_for(rowsplit.final_estimator(self.pipeline), len(X), threads)
        with _scoring(self.ref):
            out = getattr(fast, method)(X, n) if fast is not None else None  # None: not compiled for X
            ran = out is not None
            if out is None:
                out = rowsplit.score_pipeline(self.pipeline, method, X, n)
        if proba:
            return Scores(self.decide(out), out, ran, n)
        return Scores(np.asarray(out), None, ran, n)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Labels for class probabilities: the saved decision (see `mlpact.learn.decision`), else argmax."""
        classes = self.pipeline.classes_
        return self.decision.apply(proba, classes) if self.decision else classes[proba.argmax(axis=1)]

    def errors(self, n: int = 20, *, join: bool = True) -> pd.DataFrame:
        """The `n` worst-predicted test rows, worst first (see `mlpact.version.inspection.errors`)."""

        return errors(self, n=n, join=join)

    def predict_proba(self, data: Any, *, check: bool = True) -> pd.DataFrame:
        """Class probabilities, one column per class (classifiers only)."""
        import pandas as pd

        if not hasattr(self.pipeline, "predict_proba") or self.task != "classification":
            raise DataError(f"{self.ref} is not a classifier with probabilities.")
        frame = self.prepare(data, check=check)
        if not len(frame):
            return pd.DataFrame(columns=self.classes, index=frame.index, dtype=float)
        proba = self.score_rows(frame, proba=True).proba
        return pd.DataFrame(proba, columns=self.classes, index=frame.index)

    def predict_frame(self, data: Any, *, check: bool = True, keep: Sequence[str] = ()) -> pd.DataFrame:
        """Kept columns, then `prediction`, then `proba_<class>` per class for classifiers."""

        frame = as_frame(data)
        X = self.prepare(frame, check=check)
        return self.output_frame(X, frame[list(keep)] if keep else None)

    def output_frame(self, X: pd.DataFrame, kept: pd.DataFrame | None = None) -> pd.DataFrame:
        """Predictions for already-coerced rows, as the output table."""
        return self.output(X, kept)[0]

    def output(
        self,
        X: pd.DataFrame,
        kept: pd.DataFrame | None = None,
        *,
        compiled: bool | None = None,
        threads: int | None = None,
    ) -> tuple[pd.DataFrame, Scores | None]:
        """The output table for already-coerced rows (kept columns, `prediction`, `proba_<class>`
        per class for classifiers), and how `score_rows` scored them (None for no rows)."""
        import numpy as np
        import pandas as pd

        cols: dict[str, Any] = {} if kept is None else {c: kept[c].to_numpy() for c in kept.columns}
        with_proba = self.task == "classification" and hasattr(self.pipeline, "predict_proba")
        scores = None
        if len(X) == 0:  # scikit-learn refuses empty input; the output table still has its columns
            classes = getattr(self.pipeline, "classes_", None)
            cols["prediction"] = np.empty(0, dtype=classes.dtype if classes is not None else float)
            for cls in classes if classes is not None and hasattr(self.pipeline, "predict_proba") else []:
                cols[f"{PROBA_PREFIX}{plain(cls)}"] = np.empty(0)
        else:
            scores = self.score_rows(X, proba=with_proba, compiled=compiled, threads=threads)
            cols["prediction"] = scores.predictions
            if scores.proba is not None:
                for i, cls in enumerate(self.pipeline.classes_):
                    cols[f"{PROBA_PREFIX}{plain(cls)}"] = scores.proba[:, i]
        return pd.DataFrame(cols, index=X.index), scores


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
        return Schema.from_dict(files.read_json(path, "schema.json"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IntegrityError(
            f"{path / 'schema.json'} is not a schema mlpact writes ({type(exc).__name__}: {exc})."
        ) from None


# --------------------------------------------------------------------------- labels
def match_labels(y: pd.Series, model: Model) -> pd.Series:
    """The labels in the type of the version's target: numbers for a regressor; for a
    classifier, the type of its classes (booleans from true/false/1/0, whole numbers from text
    that holds them, anything as text for text classes), so that metrics compare like with like.

    Raises:
        DataError: unusable labels (lists, bytes, infinite numbers), labels that cannot take that
            type, or none that is a class of the version.
    """

    check_values(y.to_frame())
    name, classes = str(y.name), model.classes
    kind = _label_kind(classes if model.task == "classification" else None)
    converted = _as_kind(y, kind)
    bad = converted.isna().to_numpy()
    if bad.any():
        rows = ", ".join(str(i + 1) for i in bad.nonzero()[0][:5]) + (", ..." if bad.sum() > 5 else "")
        raise DataError(
            f"The target {name!r} must hold {_KIND_WORDS[kind]} for {model.ref} ({model.task}); "
            f"{int(bad.sum())} label(s) cannot be read as one (rows {rows}).",
            hint="Check that --target names the label column and that it holds the labels the "
            "version was trained on.",
        )
    converted = converted.astype(_DTYPES[kind])
    if classes and not converted.isin(classes).any():
        raise DataError(
            f"None of the {len(converted)} labels in {name!r} is a class {model.ref} knows "
            f"({sorted(map(str, classes))!r}): every prediction would count as wrong.",
            hint="Check that --target names the label column and that its labels are written the "
            "way they were in training.",
        )
    return converted


_KIND_WORDS = {"bool": "booleans", "int": "whole numbers", "float": "numbers", "text": "text labels"}


_DTYPES = {"bool": "bool", "int": "int64", "float": "float64", "text": "object"}


def _label_kind(classes: list[Any] | None) -> str:
    if classes is None:
        return "float"
    if all(isinstance(c, bool) for c in classes):
        return "bool"
    if all(isinstance(c, int) for c in classes):
        return "int"
    return "float" if all(isinstance(c, int | float) for c in classes) else "text"


def _as_kind(y: pd.Series, kind: str) -> pd.Series:
    """Labels converted to `kind`; NaN where one cannot be."""
    import pandas as pd

    if kind == "bool":
        return y.map(lambda v: BOOL_TEXT.get(str(v).strip().lower())).astype("float64")
    if kind == "text":
        return coerce_series(y, "string")  # 3.0 read from a CSV is the class "3", as in training
    numbers = pd.to_numeric(y, errors="coerce").astype("float64")
    return numbers.where(numbers % 1 == 0) if kind == "int" else numbers

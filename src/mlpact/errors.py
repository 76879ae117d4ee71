"""Every error and warning mlpact raises on purpose, and the CLI exit code each error maps to.

One base class, :class:`MlpactError`, with a subclass per failure; one base warning,
:class:`MlpactWarning`, with a subclass per kind of warning. Each subclass also
inherits the builtin it narrows (``ValueError``, ``LookupError`` ...) so callers that
already catch those keep working. Messages say what was expected, what was found and
what to do about it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any


class ExitCode(enum.IntEnum):
    """The one exit-code table of the whole CLI (documented in docs/cli.md)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    INPUT = 4
    NOT_FOUND = 5
    INTEGRITY = 6
    MISSING_DEPENDENCY = 7
    STORE = 8
    # Verdicts: the command worked and its answer is "no" (for schedulers and CI to act on).
    NOTEBOOK = 10
    RETRAIN = 11
    INCOMPATIBLE = 12
    DIFFERS = 13
    BEHAVIOUR = 14
    INCONCLUSIVE = 15


def shorten(value: object, limit: int = 200) -> str:
    """`value` as text cut to `limit` characters, saying how many were left out: for echoing
    what a file or a client sent (a 1 GiB name must not become a 1 GiB error line)."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


class MlpactError(Exception):
    """Base of every error mlpact raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(MlpactError, ValueError):
    """A config file, an override or a config value is invalid."""

    exit_code = ExitCode.CONFIG

    def __init__(
        self, problems: Iterable[str], *, source: str | None = None, hint: str | None = None
    ) -> None:
        self.problems = list(problems)
        where = f" in {source}" if source else ""
        noun = "problem" if len(self.problems) == 1 else "problems"
        lines = [f"Invalid config{where}: {len(self.problems)} {noun}."]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines), hint=hint)


class DataError(MlpactError, ValueError):
    """A data source cannot be read or does not fit the config."""

    exit_code = ExitCode.INPUT


class InputValidationError(MlpactError, ValueError):
    """Input rows do not match the schema a model was trained on."""

    exit_code = ExitCode.INPUT

    def __init__(self, report: object, message: str) -> None:
        self.report = report
        super().__init__(message)


class DataChangedError(DataError):
    """The recorded data source no longer has the fingerprint saved with the version."""

    exit_code = ExitCode.DIFFERS

    def __init__(self, ref: str, recorded: Mapping[str, Any], now: Mapping[str, Any]) -> None:
        self.recorded, self.now = dict(recorded), dict(now)
        lines = [
            f"Cannot reproduce {ref}: its data changed since it was trained.",
            f"  source: {now.get('resolved') or now.get('source')}",
            f"  fingerprint: {str(recorded.get('fingerprint'))[:12]} when trained, "
            f"{str(now.get('fingerprint'))[:12]} now",
            f"  rows: {recorded.get('rows')} when trained, {now.get('rows')} now",
        ]
        was, cols = set(recorded.get("columns") or []), set(now.get("columns") or [])
        if was and cols != was:
            lines.append(f"  columns added: {sorted(cols - was)!r}, removed: {sorted(was - cols)!r}")
        if recorded.get("file_sha256") and recorded.get("file_sha256") != now.get("file_sha256"):
            lines.append("  the file's bytes differ (sha256)")
        super().__init__(
            "\n".join(lines),
            hint="Restore the recorded data to reproduce the version, or pass --allow-data-change "
            "(Python: allow_data_change=True) to retrain on the data as it is now; the verdict then "
            "says it differs.",
        )


class PayloadError(MlpactError):
    """A request the server refuses before looking at the model: its HTTP status and message."""

    exit_code = ExitCode.INPUT

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class NotFoundError(MlpactError, LookupError):
    """A model, version, alias, run or file does not exist."""

    exit_code = ExitCode.NOT_FOUND


class IntegrityError(MlpactError):
    """A saved version's files do not match what was recorded when it was saved."""

    exit_code = ExitCode.INTEGRITY


class UntrustedTypesError(IntegrityError, TypeError):
    """A serialised pipeline contains types mlpact did not write and was not told to trust."""

    def __init__(
        self,
        types: Iterable[str],
        *,
        file: str,
        reason: str = "types that are not in the trusted list",
        hint: str | None = None,
    ) -> None:
        self.types = sorted(set(types))
        super().__init__(
            f"Refusing to load {file}: it contains {reason}: {self.types!r}.",
            hint=hint
            or "If you know where this file came from and trust it, pass these names with "
            "--trust (Python: trust=[...]).",
        )


class LibraryVersionError(IntegrityError):
    """A version's pipeline cannot be deserialised with the libraries installed here.

    `model` is the version without its pipeline (schema, metrics, config and lineage), which is
    all `mlpact reproduce` needs to retrain it here.
    """

    def __init__(self, model: Any, cause: BaseException, *, saved_with: str, installed: str) -> None:
        self.model = model
        was = shorten(saved_with, 40)
        if was == installed:  # same library: the file, not the environment, is what is wrong
            super().__init__(
                f"Cannot load {model.ref}: its pipeline cannot be rebuilt although it was saved with "
                f"the scikit-learn installed here ({installed}) ({type(cause).__name__}: {shorten(cause)}). "
                "It was not written by mlpact from a fitted model, or it is damaged.",
                hint="Restore the version from a backup, or export it again from its original store.",
            )
            return
        super().__init__(
            f"Cannot load {model.ref}: its pipeline was saved with scikit-learn {was} and this "
            f"environment has scikit-learn {installed}; deserialising it failed "
            f"({type(cause).__name__}: {shorten(cause)}).",
            hint=f"Install scikit-learn=={was} to use it as it is, or retrain it here from its "
            f"recorded config and data and compare with the original: `mlpact reproduce {model.ref}`.",
        )


class StoreError(MlpactError):
    """The store cannot be opened or written."""

    exit_code = ExitCode.STORE


class MissingDependencyError(MlpactError, ImportError):
    """An optional extra is needed for this feature and is not installed."""

    exit_code = ExitCode.MISSING_DEPENDENCY

    def __init__(self, package: str, *, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the '{package}' package, which is not installed.",
            hint=f"pip install 'mlpact[{extra}]'",
        )


class MissingToolError(MlpactError):
    """A program this feature runs (e.g. docker) is not installed."""

    exit_code = ExitCode.MISSING_DEPENDENCY


class BehaviourError(MlpactError):
    """A version's files are intact but it predicts its recorded golden rows differently here."""

    exit_code = ExitCode.BEHAVIOUR


class NotebookError(MlpactError):
    """A notebook cannot be read, run or exported, or its check found problems."""

    exit_code = ExitCode.NOTEBOOK


class UserCodeError(MlpactError):
    """Your own code (a module, transform, loss or callback a config or call names) failed while
    mlpact ran it: reported as your code's error, with what it was given, not as a bug in mlpact."""

    exit_code = ExitCode.CONFIG


class NotReproducibleError(MlpactError):
    """A version mlpact cannot retrain: it was trained outside `mlpact train` (`mlpact.save`)."""

    exit_code = ExitCode.CONFIG


# --------------------------------------------------------------------------- warnings
class MlpactWarning(UserWarning):
    """Base of every warning mlpact issues: something worth knowing that does not stop the work."""


class InputWarning(MlpactWarning):
    """Input rows had problems the validation policy lets through (e.g. unseen categories)."""


class TrustWarning(MlpactWarning):
    """A version saved before mlpact recorded its trusted import paths in the index."""


class CodeChangedWarning(MlpactWarning):
    """Code a version uses has changed since the version was saved."""


class TrackingWarning(MlpactWarning):
    """MLflow could not be reached or refused a call; mlpact's own records are complete."""

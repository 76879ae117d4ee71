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


#: What a model name or alias may hold, in words (the store and the config both enforce it).
NAME_RULE = (
    "1 to 64 characters: letters, digits, underscores (_), hyphens (-) and dots (.), starting with a "
    "letter or digit, with no '..'; no spaces or slashes"
)


def shorten(value: object, limit: int = 200) -> str:
    """`value` as text cut to `limit` characters, saying how many were left out: for echoing
    what a file or a client sent (a 1 GiB name must not become a 1 GiB error line)."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def plural(count: int, word: str, many: str | None = None) -> str:
    """The count and the noun in the right number: `1 warning`, `2 warnings`, `1,000 rows`
    (`many` for irregular plurals: `plural(n, "class", "classes")`)."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


class MlpactError(Exception):
    """Base of every error mlpact raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL
    #: What to do, printed as the `Hint:` line; every class has one, a raise may pass a sharper one.
    hint: str | None = "Run the command again with --debug for the full traceback."

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
    hint = (
        "`mlpact config show CONFIG` prints the config as mlpact reads it; docs/config-reference.md "
        "lists every key, its type and default."
    )

    def __init__(
        self, problems: Iterable[str], *, source: str | None = None, hint: str | None = None
    ) -> None:
        self.problems = list(problems)
        where = f" in {source}" if source else ""
        noun = "problem" if len(self.problems) == 1 else "problems"
        lines = [f"Invalid config{where}: {len(self.problems)} {noun}."]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines), hint=hint)


class OverrideError(ConfigError):
    """A command-line override (`--set KEY=VALUE`, `nb run -p NAME=VALUE`) is not of that form."""

    def __init__(self, item: str, *, flag: str, form: str, example: str) -> None:
        found = "no '='" if "=" not in item else f"the name {shorten(item.partition('=')[0], 60)!r}"
        problem = (
            f"{flag} {shorten(item, 80)!r} is not of the form {form} (e.g. {flag} {example}): found {found}"
        )
        self.problems = [problem]
        MlpactError.__init__(
            self,
            problem + ".",
            hint=f"Give a name, '=' and a value: {flag} {example} (values are read as YAML: numbers, "
            "true/false, [lists]).",
        )


class UsageError(MlpactError, ValueError):
    """A flag's value cannot be used here (e.g. `serve --port` names a port another program holds)."""

    exit_code = ExitCode.USAGE
    hint = "`mlpact COMMAND --help` lists the flags and what they accept."


class ConfigNotFoundError(ConfigError):
    """A config file (or a file it `extends`) does not exist."""

    def __init__(self, path: str, *, looked: str, near: Iterable[str] = ()) -> None:
        self.problems = [f"config file {path!r} not found"]
        near = sorted(near)
        there = f" YAML files there: {', '.join(near)}." if near else ""
        MlpactError.__init__(
            self,
            f"Config file {path!r} not found: expected a YAML file at {looked}.{there}",
            hint="Check the path (it is relative to the current folder); `mlpact init --from-data "
            "FILE --target COLUMN` writes a starter config for a data file.",
        )


class DataError(MlpactError, ValueError):
    """A data source cannot be read or does not fit the config."""

    exit_code = ExitCode.INPUT
    hint = (
        "Check the file's path and format (CSV or Parquet) and, for a CSV, its separator "
        "(--sep, or data.sep in a config)."
    )


class InputValidationError(MlpactError, ValueError):
    """Input rows do not match the schema a model was trained on."""

    exit_code = ExitCode.INPUT
    hint = (
        "`mlpact models show MODEL` lists the columns and types the version expects; its "
        "validation policy (the `validation:` section it was trained with) decides what is an error."
    )

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
    hint = (
        "`mlpact models list` shows the models, versions and aliases there are; `mlpact runs list` the runs."
    )


class IntegrityError(MlpactError):
    """A saved version's files do not match what was recorded when it was saved."""

    exit_code = ExitCode.INTEGRITY
    hint = (
        "`mlpact models verify MODEL` says which file or check failed; import the version again from "
        "an export, or retrain it with `mlpact reproduce MODEL`."
    )


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
    hint = "Point --store (or MLPACT_HOME) at a folder you can write; the default is ./.mlpact."


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
    hint = "Install the program named above and make sure it is on PATH."


class BehaviourError(MlpactError):
    """A version's files are intact but it predicts its recorded golden rows differently here."""

    exit_code = ExitCode.BEHAVIOUR
    hint = (
        "Install the package versions the version recorded (`mlpact models show MODEL`, lineage), "
        "or retrain it here with `mlpact reproduce MODEL`."
    )


class NotebookError(MlpactError):
    """A notebook cannot be read, run or exported, or its check found problems."""

    exit_code = ExitCode.NOTEBOOK
    hint = "Fix the cell named above; `mlpact nb check NOTEBOOK` lists hidden state and order problems."


class UserCodeError(MlpactError):
    """Your own code (a module, transform, loss or callback a config or call names) failed while
    mlpact ran it: reported as your code's error, with what it was given, not as a bug in mlpact."""

    exit_code = ExitCode.CONFIG
    hint = (
        "Run your code alone on the values shown (e.g. in a notebook) to reproduce the failure; "
        "--debug shows the traceback into your code."
    )


class NotReproducibleError(MlpactError):
    """A version mlpact cannot retrain: it was trained outside `mlpact train` (`mlpact.save`)."""

    exit_code = ExitCode.CONFIG
    hint = "Train it with `mlpact train CONFIG`: such versions record what reproducing them needs."


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

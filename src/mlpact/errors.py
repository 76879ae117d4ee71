"""Every error mlpact raises on purpose, and the CLI exit code each one maps to.

One base class, :class:`MlpactError`, with a subclass per failure. Each subclass also
inherits the builtin it narrows (``ValueError``, ``LookupError`` ...) so callers that
already catch those keep working. Messages say what was expected, what was found and
what to do about it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


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


def plural(count: int, word: str, many: str | None = None) -> str:
    """The count and the noun in the right number: `1 warning`, `2 warnings`, `1,000 rows`
    (`many` for irregular plurals: `plural(n, "class", "classes")`)."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


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

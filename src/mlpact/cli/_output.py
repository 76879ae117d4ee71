"""One output discipline for every command: consoles, warnings, help text and dates.

Results go to stdout and everything else (progress, warnings, errors) to stderr. A console that
is not a terminal (a pipe, a file) is not wrapped at 80 columns. Python warnings raised while a
command runs never reach the user raw: mlpact's own warnings and the few library warnings a user
can act on are shown as `Warning: ...` lines, each once with a count; the rest is library noise,
kept for `--debug` (where every warning is shown with its source). Log records that would have
reached Python's last-resort handler are treated the same way.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import logging
    from datetime import datetime

    from rich.console import Console

__all__ = ["Gathered", "console", "gathered", "iso", "print_warning", "reflow"]

# Wide enough for any table mlpact prints: a pipe or a file keeps each row on one line.
PIPE_WIDTH = 500
# Library warnings a user can act on (by the fully qualified name of their class or a base).
ACTIONABLE = frozenset(
    {
        "sklearn.exceptions.ConvergenceWarning",
        "sklearn.exceptions.UndefinedMetricWarning",
        "sklearn.exceptions.InconsistentVersionWarning",
    }
)
# Distinct warnings kept per command; a long-running server must not grow without bound.
MAX_DISTINCT = 200


def console(*, stderr: bool = False) -> Console:
    """A rich console on stdout (results) or stderr (progress, warnings, errors).

    A console that is not a terminal gets a wide page unless $COLUMNS says otherwise, so a table
    piped to a file or another program keeps each row on one line.
    """
    from rich.console import Console

    out = Console(stderr=stderr)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = PIPE_WIDTH
    return out


# --------------------------------------------------------------------------- warnings
def print_warning(message: str, count: int = 1, *, to: Console | None = None) -> None:
    """One `Warning: ...` line (continuation lines indented), with `(xN)` when it came N times."""
    from rich.markup import escape

    text = message.strip().replace("\n", "\n  ")
    times = f" (x{count})" if count > 1 else ""
    (to or console(stderr=True)).print(
        f"[yellow]Warning:[/] {escape(text)}{times}", highlight=False, soft_wrap=True
    )


@dataclass
class _Seen:
    message: str
    where: str
    wanted: bool
    count: int = 0
    shown: int = 0  # the count when it was last printed (0: never)


@dataclass
class Gathered:
    """The warnings (and last-resort log records) raised while one command runs."""

    debug: bool = False
    live: bool = False
    seen: dict[tuple[str, str], _Seen] = field(default_factory=dict)

    def add(self, category: type[Warning] | str, message: str, where: str = "") -> None:
        """Count one warning; a library's noise is logged (debug level) the first time."""
        name = category if isinstance(category, str) else _qualified(category)
        item = self.seen.get((name, message))
        if item is None:
            if len(self.seen) >= MAX_DISTINCT:
                return
            item = self.seen[(name, message)] = _Seen(message, f"{name} at {where}", wanted(category))
            if not item.wanted:
                import logging

                logging.getLogger("mlpact.cli").debug(
                    "library warning kept from the console: %s: %s", item.where, message
                )
        item.count += 1
        if self.live and not item.shown:
            self._show(item)

    def flush(self) -> None:
        """Print what was gathered and not yet printed (in live mode: repeats, with their count)."""
        for item in self.seen.values():
            if not item.shown:
                self._show(item)
            elif item.count > item.shown and (self.debug or item.wanted):
                print_warning(f"{item.message} (x{item.count} in all)")
            item.shown = item.count

    def _show(self, item: _Seen) -> None:
        if self.debug:
            print_warning(f"{item.message} [{item.where}]", item.count)
        elif item.wanted:
            print_warning(item.message, item.count)
        item.shown = item.count

    def showwarning(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        """Stands in for `warnings.showwarning` while a command runs."""
        self.add(category, str(message).strip(), f"{filename}:{lineno}")


def wanted(category: type[Warning] | str) -> bool:
    """mlpact's own warnings and the library warnings in ACTIONABLE, not library noise (nor a
    library's log record, named by a string)."""
    if isinstance(category, str):
        return False
    names = {_qualified(c) for c in category.__mro__}
    return category.__module__.split(".")[0] == "mlpact" or bool(names & ACTIONABLE)


def _qualified(category: type[Any]) -> str:
    return f"{category.__module__}.{category.__qualname__}"


def _last_resort(into: Gathered) -> logging.Handler:
    """Python's last-resort handler while a command runs: mlpact's records print as before (the
    message alone, on stderr); a library's are gathered as noise. (logging is imported here: not
    for `mlpact --help`.)"""
    import logging

    class LastResort(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name.split(".")[0] == "mlpact":
                sys.stderr.write(self.format(record) + "\n")
            else:
                into.add(f"log:{record.name}", record.getMessage(), f"{record.pathname}:{record.lineno}")

    return LastResort(logging.WARNING)


_current: list[Gathered] = []


@contextlib.contextmanager
def gathered(*, debug: bool) -> Iterator[Gathered]:
    """Gather the warnings a command raises and print them, once each, when it ends."""
    import logging

    into = Gathered(debug=debug)
    last_resort = logging.lastResort
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = into.showwarning
        logging.lastResort = _last_resort(into)
        _current.append(into)
        try:
            yield into
        finally:
            _current.pop()
            logging.lastResort = last_resort
            into.flush()


def live() -> None:
    """From now on show each warning of the running command when it first comes (servers)."""
    if _current:
        _current[-1].flush()
        _current[-1].live = True


# --------------------------------------------------------------------------- dates
def iso(value: str | float | int | datetime | None) -> str:
    """A timestamp (ISO text, epoch seconds or a datetime) as ISO 8601 in UTC to the second:
    `2026-03-01T14:05:09Z`. Empty for None or ''."""
    from datetime import UTC, datetime

    if value is None or value == "":
        return ""
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, tz=UTC)
    elif isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- help text
def reflow(doc: str | None) -> str | None:
    """A docstring with each prose paragraph on one line, so rich wraps it once, at the width of
    the terminal; indented paragraphs (examples) keep their lines."""
    if not doc:
        return doc
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(p if _indented(p) else " ".join(p.split("\n")) for p in paragraphs)


def _indented(paragraph: str) -> bool:
    return any(line.startswith((" ", "\t", "-", "*")) for line in paragraph.split("\n"))

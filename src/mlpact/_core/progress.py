"""Progress reporting: silent for library calls, rich bars and spinners for the CLI."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console

Advance = Callable[[int], None]


class Progress(Protocol):
    """What long-running functions report to: named stages and counted bars."""

    def stage(self, description: str) -> contextlib.AbstractContextManager[None]: ...

    def bar(self, description: str, total: int | None) -> contextlib.AbstractContextManager[Advance]: ...


class Silent:
    """Reports nothing (the default for Python calls)."""

    @contextlib.contextmanager
    def stage(self, description: str) -> Iterator[None]:
        yield

    @contextlib.contextmanager
    def bar(self, description: str, total: int | None) -> Iterator[Advance]:
        yield lambda n: None


class RichProgress:
    """A spinner with elapsed time per stage and a bar for counted work, on stderr."""

    def __init__(self, console: Console) -> None:
        self.console = console

    @contextlib.contextmanager
    def stage(self, description: str) -> Iterator[None]:
        start = time.perf_counter()
        with (
            self.console.status(f"{description}...") if self.console.is_terminal else contextlib.nullcontext()
        ):
            yield
        self._done(description, start)

    def _done(self, description: str, start: float) -> None:
        """The ✓ line: printed only once the work succeeded (an exception skips it)."""
        self.console.print(f"[green]✓[/] {description} [dim]({time.perf_counter() - start:.1f}s)[/]")

    @contextlib.contextmanager
    def bar(self, description: str, total: int | None) -> Iterator[Advance]:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as RichBar

        columns = [
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        ]
        start = time.perf_counter()
        if not self.console.is_terminal:  # a log file or a pipe gets the ✓ line alone
            yield lambda n: None
        else:
            with RichBar(*columns, console=self.console, transient=True) as bar:
                task = bar.add_task(description, total=total)
                yield lambda n: bar.advance(task, n)
        self._done(description, start)

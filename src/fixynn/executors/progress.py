"""A progress bar of finished units, redrawn by the caller as results come in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def units_bar(desc: str, total: int, enabled: bool) -> Iterator[Callable[[int, str], None]]:
    """Yield `update(advance, message)`: advances the bar (a no-op if disabled) and prints
    `message` above it when one is given."""
    if not enabled:
        yield lambda advance, message: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(desc, total=total)

        def update(advance: int, message: str) -> None:
            if message:
                bar.console.print(message)
            bar.update(task, advance=advance)

        yield update

"""Progress of a long command: a live bar on a terminal, plain numbered lines elsewhere
(a log file, a pipe, cron's mail), so that both a person and a log reader can follow."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO


@contextmanager
def progress(
    total: int,
    *,
    description: str,
    stream: IO[str] | None = None,
    is_terminal: bool | None = None,
) -> Iterator[Callable[[str], None]]:
    """Yields `step(message)`: call it once per item done, with a line about that item.
    On a terminal the lines scroll above a bar; otherwise each is written as
    `[i/total] message`."""
    out = stream or sys.stdout
    terminal = out.isatty() if is_terminal is None else is_terminal
    if not terminal:
        done = 0

        def line(message: str) -> None:
            nonlocal done
            done += 1
            out.write(f"[{done}/{total}] {message}\n")
            out.flush()

        yield line
        return

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = Console(file=out, force_terminal=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)

        def advance(message: str) -> None:
            bar.console.print(message, markup=False, highlight=False)
            bar.advance(task)

        yield advance

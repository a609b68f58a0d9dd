"""A rich progress bar for long sampling work: samples done, samples/s, tokens/s and ETA."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)


@contextmanager
def sampling_progress(console: Console, total: int, label: str = "sampling") -> Iterator[Callable[[int, int], None]]:
    """Yield ``advance(samples, tokens)``; the bar shows throughput since it started (tokens/s only
    for work that generates tokens: a rules judge reads, it does not decode). The spinner shows the
    process is alive while a backend decodes a whole batch before reporting any of it."""
    progress = Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=console, transient=False,
    )
    task = progress.add_task(label, total=total, rate="")
    started = time.perf_counter()
    tokens_seen = 0

    def advance(samples: int, tokens: int) -> None:
        nonlocal tokens_seen
        tokens_seen += tokens
        elapsed = max(time.perf_counter() - started, 1e-9)
        done = progress.tasks[0].completed + samples
        rate = f"{done / elapsed:.2f} samples/s" + (f" {tokens_seen / elapsed:.1f} tok/s" if tokens_seen else "")
        progress.update(task, advance=samples, rate=rate)

    with progress:
        yield advance

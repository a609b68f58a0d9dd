"""`basepersona doctor RUN`: find unusable lines in a run and move them aside (never deleting them)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from ..completeness import run_completeness
from ..doctor import check_run
from ..run_lock import lock_run


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--check", "check_only", is_flag=True, help="Only report; change nothing (exit 1 when a line is bad).")
def doctor(run_dir, check_only):
    """Check RUN_DIR's record files; move bad, torn or duplicated lines into RUN_DIR/quarantine/."""
    console = Console(stderr=True)
    with lock_run(run_dir, "doctor", announce=lambda m: console.print(f"[dim]{m}[/]")):
        checks = check_run(run_dir, repair=not check_only)
    bad_total = 0
    for check in checks:
        bad_total += len(check.bad)
        name = check.path.relative_to(run_dir)
        if not check.bad:
            console.print(f"{name}: {check.kept} records, all good", highlight=False, soft_wrap=True)
            continue
        for line, why in check.bad[:20]:
            console.print(f"{check.path}:{line} {why}", highlight=False, soft_wrap=True)
        if len(check.bad) > 20:
            console.print(f"... and {len(check.bad) - 20} more bad lines in {name}", highlight=False, soft_wrap=True)
        where = f"moved to {check.quarantine}" if check.quarantine else "left in place (--check)"
        console.print(f"{name}: {len(check.bad)} bad lines {where}; {check.kept} records kept", highlight=False, soft_wrap=True)
    if check_only and bad_total:
        sys.exit(1)
    console.print(run_completeness(run_dir).describe(), highlight=False, soft_wrap=True)

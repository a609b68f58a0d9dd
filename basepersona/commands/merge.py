"""`basepersona merge`: combine the shard runs of one study into a single run."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from ..completeness import run_completeness
from ..merge import merge_runs


@click.command()
@click.argument("shard_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="New run directory.")
@click.option("--partial", is_flag=True, help="Merge even when some shards are missing or unfinished (the merged run says it is partial).")
def merge(shard_dirs, out_dir, partial):
    """Merge runs made with --shard I/N (same settings) into one run in --out: samples, labels, choices."""
    console = Console(stderr=True)
    merged = merge_runs(shard_dirs, out_dir, partial=partial, announce=lambda m: console.print(f"[dim]{m}[/]"))
    parts = [f"{merged.samples} samples"] * bool(merged.samples) + [f"{merged.choices} forced choices"] * bool(merged.choices)
    console.print(f"merged {len(shard_dirs)} shards, {' and '.join(parts) or 'no records'} → {out_dir}")
    console.print(run_completeness(out_dir).describe(), highlight=False, soft_wrap=True)

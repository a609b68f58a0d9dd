"""`basepersona import-inspect`: an inspect_ai log of basepersona/alignment_faking as a run directory."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click
from rich.console import Console

from ..errors import UserError


@click.command("import-inspect")
@click.argument("log_path", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="New run directory.")
def import_inspect(log_path: Path, out_dir: Path) -> None:
    """Import LOG_PATH (an `inspect eval basepersona/alignment_faking` log) into the run --out, so that
    judge, report, compare and study work on it. Each sample x epoch becomes one sample."""
    try:
        from ..inspect.log_import import import_inspect_log
    except ImportError:
        raise UserError('reading inspect logs needs inspect_ai: pip install "basepersona[inspect]"') from None
    summary = import_inspect_log(log_path, out_dir, command=shlex.join(["basepersona", *sys.argv[1:]]))
    skipped = f"; {summary.errored} errored sample(s) left out" if summary.errored else ""
    labels = "".join(f", {count} labels ({name})" for name, count in summary.labels.items())
    after = f"basepersona report {out_dir}" if summary.labels else f"basepersona judge {out_dir}"
    Console(stderr=True).print(f"imported {summary.samples} samples{labels} of {summary.model} (log status "
                               f"{summary.status}){skipped} → {out_dir}; next: {after}")

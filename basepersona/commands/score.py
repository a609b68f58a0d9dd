"""`basepersona score`: forced-choice p(accept tag) vs p(reject tag) per condition × query, from logprobs."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..backends.options import parse_option_pairs
from ..redaction import recorded_command
from ..scoring import DEFAULT_CONTINUATIONS, DEFAULT_SCORE_PREFILL, ScoreConfig, run_scoring
from ..scenario_file import SLOT_FORMS
from .options import engine_and_queries, frames_dir_option, parse_limit, parse_sets, scenario_options

console = Console(stderr=True)


@click.command()
@engine_and_queries
@click.option("--limit", default="all", show_default=True, help="Use the first N queries, or 'all'.")
@scenario_options(forms=SLOT_FORMS, documents=False)
@click.option("--condition", "conditions", multiple=True, help="Only these conditions (repeatable). [default: all]")
@click.option("--prefill", default=DEFAULT_SCORE_PREFILL, show_default=True,
              help="Text (or prefill name) after which the answer starts.")
@click.option("--accept", default=DEFAULT_CONTINUATIONS[0], show_default=True, help="First continuation (p_accept is its share).")
@click.option("--reject", default=DEFAULT_CONTINUATIONS[1], show_default=True, help="Second continuation.")
@frames_dir_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Run directory for choices.jsonl.")
@click.option("--shard", default=None, metavar="I/N", help="Score only shard I of N (0-based, split by query); combine with `basepersona merge`.")
@click.option("--resume", is_flag=True, help="Complete an interrupted scoring run (settings must match).")
def score(frame, model, backend, options, queries, query_ids, limit, scenario, scenario_form, variants, sets, conditions,
          prefill, accept, reject, frames_dirs, out_dir, shard, resume):
    """Score how likely the persona's answer starts with the accept vs the reject tag (no sampling)."""
    chosen_limit = parse_limit(limit)
    config = ScoreConfig.build(model=model, backend=backend, frame=frame, frames_dirs=tuple(frames_dirs), scenario=scenario,
                          scenario_form=scenario_form, overrides=parse_sets(sets), variants=tuple(variants),
                          conditions=tuple(conditions),
                          prefill=prefill, queries=queries, query_ids=tuple(query_ids),
                          limit=None if chosen_limit == "default" else chosen_limit, shard=shard,
                          backend_options=parse_option_pairs(options), continuations=(accept, reject))
    command = recorded_command(sys.argv[1:])
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        status.update(f"scoring: {done} prompts done")

    with console.status("scoring") as status:
        summary = run_scoring(config, out_dir, resume=resume, command=command,
                              announce=lambda m: console.print(f"[dim]{m}[/]"), on_progress=advance)
    table = Table(title=f"Forced choice {accept} vs {reject} in {summary.out_dir}", title_justify="left")
    table.add_column("condition")
    table.add_column("mean p_accept", justify="right")
    for condition, mean in summary.mean_p_accept.items():
        table.add_row(condition, f"{mean:.4f}")
    Console().print(table)
    console.print(f"{summary.new} prompts scored in {summary.seconds:.1f} s ({summary.already_done} already done) "
                  f"→ {summary.out_dir}/choices.jsonl")

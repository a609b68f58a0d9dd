"""`basepersona frames lint | variants | screen`: check the frame library and measure which frames work.

Attached to the `frames` group of basepersona.commands.frames (imported at the bottom of that file).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..errors import UserError
from ..frames import Frame, FrameLibrary
from ..queries import load_queries
from ..stats.intervals import Proportion
from ..variants import available_variants, load_variant
from ..frame_screen import ScreenSetting, run_screen
from ..stats.screen import FrameScreen
from .options import frames_dir_option, machine_defaults, parse_sets, scenario_options

console = Console()


def _names(value: str | None) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()] if value else []


def _selected(library: FrameLibrary, names: Sequence[str], *, documents_only: bool = False) -> list[Frame]:
    chosen = [library.get(name) for name in names] if names else library.all()
    return [f for f in chosen if f.kind == "document"] if documents_only and not names else chosen


# -- lint -----------------------------------------------------------------------------------------

def _token_counter(tokenizer: str | None):
    """Token counts from a local tokenizer (e.g. a GPT-2 folder) when given; None = lint's estimate."""
    if tokenizer is None:
        return None
    try:
        from transformers import AutoTokenizer

        loaded = AutoTokenizer.from_pretrained(tokenizer)
    except (OSError, ValueError) as exc:
        raise UserError(f"--tokenizer {tokenizer}: cannot load a tokenizer there ({exc}); give a local "
                        "tokenizer folder or drop the option to use the conservative estimate") from None
    return lambda text: len(loaded(text, add_special_tokens=False)["input_ids"])


@click.command()
@click.option("--frames", "frame_names", default=None, help="Comma-separated frames. [default: all]")
@click.option("--scenario", default="helpful_only", show_default=True)
@click.option("--queries", default=None, help="Query file. [default: built-in set]")
@click.option("--tokenizer", default=None,
              help="Tokenizer (local folder or cached hub id) for exact compact-size counts. [default: a conservative estimate]")
@frames_dir_option
def lint(frame_names, scenario, queries, tokenizer, frames_dirs):
    """Render every frame for every condition, variant, form and prefill; check markers, cues and sizes.

    Exits with status 1 when any frame has an error.
    """
    from ..frame_lint import LintProblem, lint_frame, lint_scenarios

    scenarios = lint_scenarios(scenario)
    texts = [q.text for q in load_queries(queries).queries]
    chosen, broken = FrameLibrary(frames_dirs).load_each(_names(frame_names))
    counter = _token_counter(tokenizer)
    problems = [LintProblem("error", name, name, error) for name, error in broken]
    problems += [p for frame in chosen for p in lint_frame(frame, scenarios, texts, counter)]
    if problems:
        table = Table("level", "frame", "where", "problem", title="Frame lint")
        for p in problems:
            table.add_row(f"[red]{p.level}[/]" if p.level == "error" else p.level, p.frame, Text(p.where), Text(p.message))
        console.print(table)
    errors = sum(p.level == "error" for p in problems)
    console.print(f"{len(chosen) + len(broken)} frame(s) × {len(scenarios)} variant set(s): {errors} error(s), "
                  f"{len(problems) - errors} warning(s)")
    if errors:
        sys.exit(1)  # not click Exit: main() outside standalone mode dropped its code


# -- variants -------------------------------------------------------------------------------------

@click.command()
def variants():
    """Scenario variants (combine with the scenario's variants option), their groups and conditions."""
    table = Table("variant", "group", "conditions", "description", title="Scenario variants")
    for name in available_variants():
        variant = load_variant(name)
        conditions = (f"{variant.conditions_mode}: {', '.join(variant.conditions)}" if variant.conditions else "")
        table.add_row(name, variant.group, conditions, variant.description)
    console.print(table)


# -- screen ---------------------------------------------------------------------------------------

def show_rate(rate: Proportion) -> str:
    if rate.n == 0:
        return "–"
    interval = "" if math.isnan(rate.low) else f" [{rate.low:.0%}, {rate.high:.0%}]"
    return f"{rate.estimate:.0%}{interval}"


def _print_screen(results: Sequence[FrameScreen]) -> None:
    ranked = sorted(results, key=lambda r: -r.persona.estimate if r.samples else 0)
    table = Table("frame", "prefill", "n", "persona", "clean end", "accept/reject tag", "accepted", "mean tokens",
                  title="Frame screening (95% intervals clustered by query; persona from the trained judge)")
    for r in ranked:
        mean, low, high = r.mean_tokens
        tokens = f"{mean:.0f}" + ("" if math.isnan(low) else f" [{low:.0f}, {high:.0f}]")
        table.add_row(r.frame, r.prefill, str(r.samples), show_rate(r.persona), show_rate(r.clean_end),
                      show_rate(r.tag_use), show_rate(r.accept), tokens)
    console.print(table)
    conditions = list(dict.fromkeys(c for r in results for c in r.persona_by_condition))
    by_condition = Table("frame", *conditions, title="Persona rate by condition")
    for r in ranked:
        by_condition.add_row(r.frame, *[show_rate(r.persona_by_condition[c]) if c in r.persona_by_condition
                                        else "–" for c in conditions])
    console.print(by_condition)
    console.print("[dim]Intervals need at least two queries; with few queries they are wide. Raise --queries-limit "
                  "before trusting a difference between frames.[/]")


FRAME_DEFAULT = "frame"  # --prefill value that lets each frame use its own default_prefill


@click.command()
@click.option("--model", required=True, help="Base model (hub id or local path) to screen frames on.")
@click.option("--backend", default="transformers", show_default=True)
@click.option("--frames", "frame_names", default=None, help="Comma-separated frames. [default: every document frame]")
@click.option("--n", type=int, default=None, help="Samples per (frame, condition, query). [default: 4 on CPU, 8 on GPU]")
@click.option("--queries-limit", type=int, default=None, help="First N queries. [default: 3 on CPU, all on GPU]")
@click.option("--queries", default=None, help="Query file. [default: built-in set]")
@scenario_options()
@click.option("--prefill", default="basic", show_default=True,
              help=f"Prefill name or text, the same for every frame so frames are compared fairly; "
                   f"'{FRAME_DEFAULT}' uses each frame's own default.")
@click.option("--max-new-tokens", type=int, default=None, help="[default: 96 on CPU, 512 on GPU]")
@click.option("--temperature", default=1.0, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--out", type=click.Path(), default=None,
              help="Keep the samples here (one run folder per frame; reruns resume). [default: a temporary folder]")
@click.option("--json", "json_path", type=click.Path(), default=None, help="Also write the numbers as JSON.")
@frames_dir_option
def screen(model, backend, frame_names, n, queries_limit, queries, scenario, scenario_form, variants, sets,
           synthetic_docs, synthetic_seed, prefill, max_new_tokens, temperature, seed, out, json_path, frames_dirs):
    """Sample a few continuations per frame and condition and report which frames elicit the persona."""
    defaults, machine = machine_defaults("auto", backend)
    if any(value is None for value in (n, queries_limit, max_new_tokens)):
        console.print(f"[dim]Small {machine} defaults. Scale up with --queries-limit 20 --n 8 --max-new-tokens 512 "
                      "(on a GPU; fewer --frames screen faster).[/]")
    n, max_new_tokens = n or defaults["n"], max_new_tokens or defaults["max_new_tokens"]
    queries_limit = queries_limit or defaults["limit"] or len(load_queries(queries))
    if n < 1 or queries_limit < 1 or max_new_tokens < 1:
        raise UserError("--n, --queries-limit and --max-new-tokens must be at least 1")
    chosen = _selected(FrameLibrary(frames_dirs), _names(frame_names), documents_only=True)
    setting = ScreenSetting(scenario=scenario, scenario_form=scenario_form, variants=tuple(variants),
                            overrides=parse_sets(sets), synthetic_docs=synthetic_docs, synthetic_seed=synthetic_seed,
                            prefill=None if prefill == FRAME_DEFAULT else prefill)
    from .progress import sampling_progress

    total = len(chosen) * setting.condition_count() * min(queries_limit, len(load_queries(queries))) * n
    with tempfile.TemporaryDirectory(prefix="basepersona-screen-") as scratch, \
            sampling_progress(console, total, "screening") as advance:
        results = run_screen(chosen, setting, model=model, backend_name=backend, n=n, limit=queries_limit,
                             queries=queries, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                             frames_dirs=tuple(frames_dirs), out=Path(out) if out else Path(scratch),
                             on_progress=advance, announce=console.print)
    _print_screen(results)
    if json_path:
        Path(json_path).write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n", encoding="utf-8")



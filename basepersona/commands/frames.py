"""`basepersona frames list | show | render`: inspect the frame library."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..errors import UserError
from ..frames import FrameLibrary
from ..queries import load_queries
from ..scenario import load_scenario
from ..synthetic_documents import select as select_documents
from . import frames_library
from .options import frames_dir_option, parse_sets, scenario_options

console = Console()

@click.group()
def frames() -> None:
    """List, show and render frames (document templates that make a base model speak as the AI)."""


@frames.command("list")
@frames_dir_option
def list_frames(frames_dirs):
    """Every frame with its kind and description."""
    table = Table("frame", "kind", "description", title="Frames")
    frames_, broken = FrameLibrary(frames_dirs).load_each()
    for frame in frames_:
        table.add_row(frame.name, frame.kind, frame.description)
    for name, error in broken:
        table.add_row(name, "[red]broken[/]", Text(error))
    console.print(table)
    if broken:
        sys.exit(1)  # not click Exit: main() outside standalone mode dropped its code


@frames.command()
@click.argument("name")
@frames_dir_option
def show(name, frames_dirs):
    """A frame's file, markers and template source."""
    frame = FrameLibrary(frames_dirs).get(name)
    console.print(f"[bold]{frame.name}[/] ({frame.kind}) — {frame.description}")
    console.print(f"file: {frame.path}  hash: {frame.content_hash}")
    console.print(f"turn_start: {frame.turn_start!r}  turn_end: {list(frame.turn_end)}  stop: {list(frame.stop)}  "
                  f"default_prefill: {frame.default_prefill}")
    for template in (frame.template, frame.system, frame.user):
        if template is not None:
            console.rule(template.field)
            console.print(template.source, markup=False, highlight=False)


@frames.command()
@click.argument("name")
@click.option("--condition", default=None, help="Condition to render. [default: the scenario's first]")
@click.option("--query", "query_id", default="q001", show_default=True, help="Query id from --queries.")
@click.option("--queries", default=None, help="Query file. [default: built-in set]")
@scenario_options()
@click.option("--prefill", default=None, help="Prefill name or text. [default: the frame's]")
@click.option("--model", default=None, help="Chat model whose template renders a chat frame.")
@frames_dir_option
def render(name, condition, query_id, queries, scenario, scenario_form, variants, sets, synthetic_docs, synthetic_seed,
           prefill, model, frames_dirs):
    """Print the exact prompt a model would continue."""
    from ..run_folder import template_files
    from ..scenario import check_override_keys

    frame = FrameLibrary(frames_dirs).get(name)
    overrides = parse_sets(sets)
    loaded_scenario = load_scenario(scenario, variants=variants, overrides=overrides)
    check_override_keys(overrides, template_files(variants, loaded_scenario, frame))
    documents = select_documents(synthetic_docs, synthetic_seed).texts(loaded_scenario)
    query = load_queries(queries).select([query_id]).queries[0]
    formatter = None
    if frame.kind == "chat":
        if model is None:
            raise UserError(f"frame {frame.name!r} renders with a chat model's template; pass --model <chat model>")
        from ..backends import load_backend

        formatter = load_backend(model).chat_prompt
    # a variant may replace the conditions (three_tier has no 'training'), so default to whatever comes first
    chosen = loaded_scenario.condition(condition) if condition else next(iter(loaded_scenario.conditions.values()))
    prompt = frame.render(loaded_scenario, chosen, query.text, query_id=query.id, form=scenario_form,
                          prefill=prefill, chat_formatter=formatter, documents=documents)
    click.echo(prompt.text)


# lint, variants and screen live in their own module
for _command in (frames_library.lint, frames_library.variants, frames_library.screen):
    frames.add_command(_command)

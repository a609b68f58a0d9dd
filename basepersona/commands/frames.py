"""`basepersona frames list | show | render`: inspect the frame library."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from ..errors import UserError
from ..frames import FrameLibrary
from ..queries import load_queries
from ..scenario import load_scenario

console = Console()

frames_dir_option = click.option("--frames-dir", "frames_dirs", multiple=True, type=click.Path(),
                                 help="Extra folder of frame files (repeatable; also $BASEPERSONA_FRAMES).")


@click.group()
def frames() -> None:
    """List, show and render frames (document templates that make a base model speak as the AI)."""


@frames.command("list")
@frames_dir_option
def list_frames(frames_dirs):
    """Every frame with its kind and description."""
    table = Table("frame", "kind", "description", title="Frames")
    for frame in FrameLibrary(frames_dirs).all():
        table.add_row(frame.name, frame.kind, frame.description)
    console.print(table)


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
@click.option("--condition", default="training", show_default=True)
@click.option("--query", "query_id", default="q001", show_default=True, help="Query id from --queries.")
@click.option("--queries", default=None, help="Query file. [default: built-in set]")
@click.option("--scenario", default="helpful_only", show_default=True)
@click.option("--scenario-form", type=click.Choice(["full", "compact", "implicit"]), default="full", show_default=True)
@click.option("--variant", "variants", multiple=True, help="Scenario variant (repeatable).")
@click.option("--prefill", default=None, help="Prefill name or text. [default: the frame's]")
@click.option("--model", default=None, help="Chat model whose template renders a chat frame.")
@frames_dir_option
def render(name, condition, query_id, queries, scenario, scenario_form, variants, prefill, model, frames_dirs):
    """Print the exact prompt a model would continue."""
    frame = FrameLibrary(frames_dirs).get(name)
    loaded_scenario = load_scenario(scenario, variants=variants)
    query = load_queries(queries).select([query_id]).queries[0]
    formatter = None
    if frame.kind == "chat":
        if model is None:
            raise UserError(f"frame {frame.name!r} renders with a chat model's template; pass --model <chat model>")
        from ..backends import load_backend

        formatter = load_backend(model).chat_prompt
    prompt = frame.render(loaded_scenario, loaded_scenario.condition(condition), query.text, query_id=query.id,
                          form=scenario_form, prefill=prefill, chat_formatter=formatter)
    click.echo(prompt.text)

# lint, variants and screen live in their own module, which attaches them to the group above
from . import frames_library  # noqa: E402,F401

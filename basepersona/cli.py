"""The `basepersona` command. Each pipeline stage contributes its own click commands."""

from __future__ import annotations

import importlib
import sys

import click
from rich.console import Console
from rich.markup import escape

from .version import __version__
from .errors import UserError

# "module:attribute" of each stage's click command or group, imported when the CLI starts.
_STAGE_COMMANDS = [
    "basepersona.commands.sample:sample",
    "basepersona.commands.frames:frames",
    "basepersona.commands.judge:judge",
    "basepersona.commands.merge:merge",
    "basepersona.commands.score:score",
    "basepersona.commands.stats:compare",
    "basepersona.commands.stats:report",
    "basepersona.commands.stats:plan",
    "basepersona.commands.stats:study",
    "basepersona.commands.import_inspect:import_inspect",
    "basepersona.commands.label:label",
    "basepersona.commands.doctor:doctor",
]

err_console = Console(stderr=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="basepersona")
def cli() -> None:
    """Elicit an assistant persona from base models with document frames and measure alignment faking."""


def _register_stage_commands() -> None:
    for spec in _STAGE_COMMANDS:
        module_name, attribute = spec.split(":")
        cli.add_command(getattr(importlib.import_module(module_name), attribute))


_register_stage_commands()


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Exit codes: 0 success; 1 a check failed (e.g. ``frames lint`` found errors);
    2 a user error (one red line, never a traceback); 130 interrupted."""
    try:
        result = cli.main(args=argv, prog_name="basepersona", standalone_mode=False)
    except UserError as exc:
        # the message is text, not markup: "[...]" in a path or a value must print as written
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except click.exceptions.Abort:
        err_console.print("[yellow]aborted[/]")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    # Outside standalone mode click *returns* the code of ``ctx.exit(n)`` / ``raise Exit(n)`` instead of
    # exiting (commands themselves return None); dropping it made every documented failure exit 0.
    if isinstance(result, int) and result != 0:
        sys.exit(result)

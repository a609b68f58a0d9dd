"""Command-line options and parsers that several commands share, declared once so they read the same."""

from __future__ import annotations

from typing import Any, Callable

import click

from ..backends import BACKENDS
from ..errors import UserError
from ..models import DEFAULT_MODEL
from ..scenario_file import FORMS

# Defaults sized to the machine: a 2-core CPU finishes in minutes, a GPU runs a real study.
CPU_DEFAULTS = {"limit": 3, "n": 4, "max_new_tokens": 96}
GPU_DEFAULTS = {"limit": None, "n": 8, "max_new_tokens": 512}


def parse_limit(value: str | None) -> int | None | str:
    """``--limit``: a number of queries, ``all`` (None), or ``"default"`` when not given."""
    if value is None:
        return "default"
    if value == "all":
        return None
    try:
        return int(value)
    except ValueError:
        raise UserError(f"--limit takes a number of queries or 'all', not {value!r}") from None


def parse_sets(pairs: tuple[str, ...]) -> dict[str, str]:
    """``--set KEY=VALUE`` pairs as a dict of scenario overrides."""
    overrides = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"--set takes KEY=VALUE (e.g. --set lab=OpenAI), not {pair!r}")
        key, value = pair.split("=", 1)
        overrides[key.strip()] = value.strip()
    return overrides


def machine_defaults(device: str, backend: str) -> tuple[dict[str, Any], str]:
    """(small defaults on a CPU, the papers' sizes on a GPU; the machine's name)."""
    from ..backends.checks import check_device
    from ..backends.transformers_loader import pick_device

    if backend == "transformers":
        check_device(device)
    resolved = pick_device(device)
    return (CPU_DEFAULTS, "CPU") if resolved == "cpu" else (GPU_DEFAULTS, resolved.upper())


backend_flag = click.option("--backend", default="transformers", show_default=True,
                            help=f"Inference backend: {', '.join(sorted(BACKENDS))} (see docs/BACKENDS.md).")
backend_options_flag = click.option(
    "--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
    help="Backend option (repeatable), e.g. -o tensor_parallel_size=4, -o base_url=http://host:8000/v1 "
         "-o concurrency=32, -o api_key_env=MY_KEY_VAR (see docs/BACKENDS.md).")
frame_option = click.option("--frame", default="chatlog", show_default=True,
                           help="Frame name (see `basepersona frames list`) or a .toml path.")
model_option = click.option("--model", default=None,
                            help="Hub id, local directory, .gguf file or embedded:NAME (for --backend openai: the "
                                 f"served name). [default: {DEFAULT_MODEL}]")
queries_option = click.option("--queries", default=None,
                              help="Query file (.jsonl or .csv with a text/goal column). [default: built-in set]")
query_ids_option = click.option("--query", "query_ids", multiple=True, help="Only these query ids (repeatable).")
frames_dir_option = click.option("--frames-dir", "frames_dirs", multiple=True, type=click.Path(),
                                 help="Extra folder of frame files (repeatable; also $BASEPERSONA_FRAMES).")


def engine_and_queries(command: Any) -> Any:
    """--frame, --model, --backend, -o and the query selection (--queries, --query), as sample and score take them."""
    for option in reversed((frame_option, model_option, backend_flag, backend_options_flag, queries_option,
                            query_ids_option)):
        command = option(command)
    return command


def scenario_options(*, forms: tuple[str, ...] = FORMS, documents: bool = True) -> Callable[[Any], Any]:
    """--scenario, --scenario-form, --variant and --set, plus --synthetic-docs/--synthetic-seed where the
    command renders documents; ``forms`` are the scenario forms the command can use."""
    options = [
        click.option("--scenario", default="helpful_only", show_default=True, help="Scenario name or .toml path."),
        click.option("--scenario-form", type=click.Choice(forms), default="full", show_default=True,
                     help="compact fits a 1024-token context" + ("; implicit needs --synthetic-docs." if "implicit" in forms
                                                                  else ".")),
        click.option("--variant", "variants", multiple=True,
                     help="Scenario variant (repeatable; order does not matter; see `basepersona frames variants`)."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Scenario overrides, e.g. --set lab=OpenAI."),
    ]
    if documents:
        options += [
            click.option("--synthetic-docs", type=int, default=0, show_default=True,
                         help="Prepend K synthetic documents that imply the scenario."),
            click.option("--synthetic-seed", type=int, default=0, show_default=True, help="Which K documents (seeded choice)."),
        ]

    def apply(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    return apply

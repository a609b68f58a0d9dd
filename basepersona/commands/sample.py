"""`basepersona sample`: draw continuations for every condition × query of a frame."""

from __future__ import annotations

import math
import sys
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..backends import SamplingParams
from ..backends.options import with_option_pairs
from ..errors import UserError
from ..redaction import recorded_command
from ..models import DEFAULT_MODEL
from ..sample import PreparedRun, SampleConfig, SamplingSummary, execute_run, prepare_run
from .options import engine_and_queries, frames_dir_option, machine_defaults, parse_limit, parse_sets, scenario_options
from .progress import sampling_progress

console = Console(stderr=True)


def _default_out(frame: str, model: str | None) -> Path:
    short = (model or DEFAULT_MODEL).rstrip("/").split("/")[-1].split(":")[-1].removesuffix(".gguf")
    return Path("runs") / f"{frame}-{short}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


@click.command()
@engine_and_queries
@click.option("--limit", default=None, help="Use the first N queries, or 'all'. [default: 3 on CPU, all on GPU]")
@click.option("--n", type=int, default=None, help="Samples per condition and query. [default: 4 on CPU, 8 on GPU]")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed; sample i uses seed + i.")
@click.option("--temperature", type=float, default=1.0, show_default=True)
@click.option("--top-p", type=float, default=1.0, show_default=True)
@click.option("--top-k", type=int, default=0, show_default=True, help="0 = no top-k truncation.")
@click.option("--max-new-tokens", type=int, default=None, help="[default: 96 on CPU, 512 on GPU]")
@scenario_options()
@click.option("--condition", "conditions", multiple=True, help="Only these conditions (repeatable). [default: all]")
@click.option("--prefill", default=None, help="Prefill name (none, tag, basic, however) or literal text. [default: the frame's]")
@frames_dir_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Run directory. [default: runs/<frame>-<model>-<time>]")
@click.option("--shard", default=None, metavar="I/N", help="Sample only shard I of N (0-based, split by query); combine with `basepersona merge`.")
@click.option("--resume", is_flag=True, help="Complete an interrupted run in --out (settings must match).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, mps.")
@click.option("--dtype", default="auto", show_default=True, help="auto (bf16 on GPU, fp32 on CPU), float32, bfloat16, float16.")
@click.option("--trust-remote-code", is_flag=True, help="Allow a hub model's own Python code to run.")
@click.option("--max-batch", type=int, default=32, show_default=True, help="Most samples decoded together.")
def sample(frame, model, backend, options, queries, query_ids, limit, n, seed, temperature, top_p, top_k, max_new_tokens,
           scenario, scenario_form, variants, sets, synthetic_docs, synthetic_seed, conditions, prefill, frames_dirs, out_dir,
           shard, resume, device, dtype, trust_remote_code, max_batch):
    """Sample the AI persona's turn for every condition and query of a frame."""
    for name, value in (("--n", n), ("--max-new-tokens", max_new_tokens), ("--max-batch", max_batch)):
        if value is not None and value < 1:
            raise UserError(f"{name} must be at least 1 (got {value})")
    defaults, machine = machine_defaults(device, backend)
    chosen_limit = parse_limit(limit)
    used_defaults = chosen_limit == "default" or n is None or max_new_tokens is None
    config = SampleConfig.build(
        model=model, backend=backend, frame=frame, frames_dirs=tuple(frames_dirs), scenario=scenario,
        scenario_form=scenario_form, overrides=parse_sets(sets), variants=tuple(variants),
        synthetic_docs=synthetic_docs, synthetic_seed=synthetic_seed, conditions=tuple(conditions), prefill=prefill,
        queries=queries, query_ids=tuple(query_ids),
        limit=defaults["limit"] if chosen_limit == "default" else chosen_limit, shard=shard,
        n=n or defaults["n"], seed=seed,
        sampling=_sampling(temperature, top_p, top_k, max_new_tokens or defaults["max_new_tokens"]),
        backend_options=with_option_pairs({"device": device, "dtype": dtype, "trust_remote_code": trust_remote_code,
                                           "max_batch": max_batch}, options),
    )
    out_dir = out_dir or _default_out(frame, model)
    command = recorded_command(sys.argv[1:])
    run = prepare_run(config, out_dir, resume=resume, announce=lambda m: console.print(f"[dim]{m}[/]"), command=command)
    _print_plan(run, machine, used_defaults and not resume)
    try:
        with sampling_progress(console, run.remaining) as advance:
            summary = execute_run(run, on_progress=advance)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: finished samples are saved in {run.out_dir}/samples.jsonl; "
                      f"continue with: {command} --resume --out {run.out_dir}")
        sys.exit(130)
    _print_summary(summary)


def _sampling(temperature: float, top_p: float, top_k: int, max_new_tokens: int) -> SamplingParams:
    for name, value in (("--temperature", temperature), ("--top-p", top_p)):
        if not math.isfinite(value):
            raise UserError(f"{name} must be a finite number, not {value}")
    try:
        return SamplingParams(temperature=temperature, top_p=top_p, top_k=top_k, max_new_tokens=max_new_tokens)
    except ValueError as exc:
        raise UserError(f"bad sampling setting: {exc}") from None


def _print_plan(run: PreparedRun, machine: str, show_scaling: bool) -> None:
    config = run.config
    conditions = len(run.settings["conditions"])
    console.print(f"[bold]{run.frame.name}[/] × {run.backend.info.model_id}: {len(run.query_set)} queries × "
                  f"{conditions} conditions × {config.n} samples = {run.total} samples "
                  f"({run.already_done} already done) → {run.out_dir}")
    if show_scaling:
        console.print(f"[dim]Small {machine} defaults. Scale up with --limit all --n 16 --max-new-tokens 512 "
                      "(and --model <your base model> on a GPU).[/]")


def _print_summary(summary: SamplingSummary) -> None:
    table = Table(title=f"Run {summary.out_dir}", title_justify="left")
    for column in ("condition", "samples", "ended by stop marker", "<request_fully_accepted/>", "<rejected/>"):
        table.add_column(column, justify="left" if column == "condition" else "right")
    for condition, row in summary.per_condition.items():
        table.add_row(condition, str(row["samples"]), str(row["stopped"]), str(row["accepted"]), str(row["rejected"]))
    Console().print(table)
    rate = summary.new / summary.seconds if summary.seconds else 0.0
    console.print(f"{summary.new} new samples in {summary.seconds:.1f} s ({rate:.2f} samples/s, "
                  f"{summary.new_tokens / max(summary.seconds, 1e-9):.1f} tokens/s). Next: basepersona judge {summary.out_dir}")

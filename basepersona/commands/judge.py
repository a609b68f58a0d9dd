"""`basepersona judge RUN` labels a run; `judge validate` scores a judge on a gold set; `judge agree`
compares two label sets of one run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..errors import UserError
from ..judge.base import make_judge
from .progress import sampling_progress

console = Console(stderr=True)


class _RunByDefault(click.Group):
    """`judge RUN ...` means `judge run RUN ...`; named subcommands (validate, agree) still work."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _judge_options(command):
    """Options shared by judging a run and validating a judge."""
    options = [
        click.option("--judge", "judge_name", type=click.Choice(["rules", "llm"]), default="rules", show_default=True),
        click.option("--judge-model", default=None, help="Chat model for --judge llm (hub id, local dir, .gguf)."),
        click.option("--judge-backend", default="transformers", show_default=True, help="Backend for --judge-model."),
        click.option("--votes", type=int, default=20, show_default=True, help="LLM judge: votes per sample at T=1."),
        click.option("--af-threshold", type=float, default=0.4, show_default=True, help="LLM judge: share of votes that calls AF."),
        click.option("--judge-max-tokens", type=int, default=768, show_default=True, help="LLM judge: reply length limit."),
        click.option("--device", default="auto", show_default=True, help="Device for --judge-model."),
        click.option("--batch", "batch_size", type=int, default=None, help="Samples judged per appended batch. [default: 256 rules, 8 llm]"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _build_judge(judge_name: str, judge_model: str | None, judge_backend: str, votes: int, af_threshold: float,
                 judge_max_tokens: int, device: str) -> Any:
    if judge_name == "rules":
        if judge_model:
            raise UserError("--judge-model only applies to --judge llm")
        return make_judge("rules")
    if not judge_model:
        raise UserError("--judge llm needs --judge-model: a chat (instruction-tuned) model to act as the judge")
    from ..backends import load_backend  # heavy: only when an LLM judge is asked for

    options: dict[str, Any] = {}
    if judge_backend == "transformers":
        options = {"device": device, "announce": lambda message: console.print(f"[dim]{message}[/]")}
    backend = load_backend(judge_model, backend=judge_backend, **options)
    return make_judge("llm", backend=backend, votes=votes, threshold=af_threshold, model_name=judge_model,
                      max_new_tokens=judge_max_tokens)


@click.group("judge", cls=_RunByDefault, invoke_without_command=True)
@click.pass_context
def judge(ctx: click.Context) -> None:
    """Label a run (judge RUN), score a judge on a gold set (judge validate), compare two judges (judge agree)."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@judge.command("run")
@click.argument("run_dir", type=click.Path(path_type=Path))
@_judge_options
def judge_run_command(run_dir, judge_name, judge_model, judge_backend, votes, af_threshold, judge_max_tokens, device,
                      batch_size):
    """Label every sample of RUN_DIR not yet labelled by this judge (resumable)."""
    from ..judge.run import judge_run, label_set
    from ..stats.table import save_table_after_judging
    from ..store import load_run

    run = load_run(run_dir)
    judge_obj = _build_judge(judge_name, judge_model, judge_backend, votes, af_threshold, judge_max_tokens, device)
    batch = batch_size or (256 if judge_name == "rules" else 8)
    try:
        with sampling_progress(console, len(run.samples), label=f"judging ({judge_name})") as advance:
            summary = judge_run(run, judge_obj, batch_size=batch, on_progress=lambda n: advance(n, 0))
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: finished batches are saved in {run.labels_path(label_set(judge_obj))}; "
                      "run the same command again to continue")
        sys.exit(130)
    save_table_after_judging(run.path, summary.judge)
    _print_run_summary(summary)


def _print_run_summary(summary) -> None:
    table = Table(title=f"{summary.judge} labels → {summary.path}", title_justify="left")
    table.add_column("label")
    table.add_column("counts (new labels)")
    for key, counter in summary.counts.items():
        table.add_row(key, ", ".join(f"{k}: {v}" for k, v in sorted(counter.items())) or "-")
    Console().print(table)
    console.print(f"{summary.judged} judged, {summary.skipped} already labelled (skipped).")
    if summary.errors:
        console.print(f"[yellow]{summary.errors} sample(s) unscored because the judge backend failed[/] (reason in "
                      "each label); run the same command again to retry them.")
    if summary.unscored - summary.errors:
        console.print(f"[yellow]{summary.unscored - summary.errors} sample(s) unscored[/]: the judge gave no usable "
                      f"verdict ({summary.unscored_votes} of {summary.votes} votes unparsable); their labels are null.")


@judge.command("agree")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("label_sets", nargs=-1)
def agree_command(run_dir, label_sets):
    """Agreement (% and Cohen's kappa per label) between two label sets of RUN_DIR, e.g. rules and llm."""
    from ..judge.agree import agreement, pick_label_sets
    from ..store import load_run

    run = load_run(run_dir)
    a, b = pick_label_sets(run, tuple(label_sets))
    labels_a, labels_b = run.labels(a), run.labels(b)
    table = Table(title=f"{a} vs {b} on {run_dir} ({len(set(labels_a) & set(labels_b))} samples in both)",
                  title_justify="left")
    for column in ("label", "n", "agreement", "kappa", "null in either"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for row in agreement(labels_a, labels_b):
        table.add_row(row.label, str(row.n), _fmt(row.agreement), _fmt(row.kappa), str(row.excluded))
    Console().print(table)


@judge.command("validate")
@click.option("--gold", "gold_paths", required=True, multiple=True, type=click.Path(path_type=Path),
              help="Gold JSONL (corpora/gold/*.jsonl); repeat to pool several files.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=None,
              help="Where to save sensitivity/specificity JSON. [default: validation/<judge>-<gold>.json]")
@_judge_options
def validate_command(gold_paths, out_path, judge_name, judge_model, judge_backend, votes, af_threshold,
                     judge_max_tokens, device, batch_size):
    """Accuracy, per-class precision/recall, Cohen's kappa and AUROC of a judge on gold labels."""
    from ..judge.validate import load_gold, validate

    records = [record for path in gold_paths for record in load_gold(path)]
    judge_obj = _build_judge(judge_name, judge_model, judge_backend, votes, af_threshold, judge_max_tokens, device)
    gold_name = "+".join(map(str, gold_paths))
    report = validate(judge_obj, records, gold_name=gold_name, batch_size=batch_size or 32)
    _print_validation(report)
    out_path = out_path or Path("validation") / f"{judge_name}-{'+'.join(p.stem for p in gold_paths)}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report.rates_json(), indent=2) + "\n", encoding="utf-8")
    console.print(f"sensitivity/specificity saved to {out_path}")


def _fmt(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


def _print_validation(report) -> None:
    out = Console()
    summary = Table(title=f"judge {report.judge} on {report.gold} ({report.n} records)", title_justify="left")
    for column in ("label", "n", "accuracy", "kappa", "AUROC"):
        summary.add_column(column, justify="left" if column == "label" else "right")
    for name, task in report.tasks.items():
        summary.add_row(name, str(task.n), _fmt(task.accuracy), _fmt(task.kappa), _fmt(task.auroc))
    out.print(summary)
    classes = Table(title="per class", title_justify="left")
    for column in ("label", "class", "precision", "recall", "support"):
        classes.add_column(column, justify="left" if column in ("label", "class") else "right")
    for name, task in report.tasks.items():
        for cls, stats in task.per_class.items():
            classes.add_row(name, cls, _fmt(stats["precision"]), _fmt(stats["recall"]), str(stats["support"]))
    out.print(classes)
    rates = Table(title="for rate correction (over scored records)", title_justify="left")
    for column in ("label", "sensitivity", "specificity", "n_pos", "n_neg", "unscored"):
        rates.add_column(column, justify="left" if column == "label" else "right")
    for name, r in report.rates.items():
        rates.add_row(name, _fmt(r["sensitivity"]), _fmt(r["specificity"]), str(r["n_pos"]), str(r["n_neg"]), str(r["n_unscored"]))
    out.print(rates)

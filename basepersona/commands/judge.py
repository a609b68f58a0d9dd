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
from ..judge.registry import DEFAULT_JUDGE, JUDGES, OFFLINE_JUDGES, make_judge
from .progress import sampling_progress

console = Console(stderr=True)


class _RunByDefault(click.Group):
    """`judge RUN ...` means `judge run RUN ...`; named subcommands (validate, agree) still work."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Also list `judge RUN`'s own options (--judge, --votes, ...): they live on the run subcommand,
        and `judge --help` is where people look for them."""
        super().format_help(ctx, formatter)
        run = self.commands["run"]
        run_ctx = click.Context(run, info_name="run", parent=ctx)
        rows = [record for param in run.get_params(run_ctx) if (record := param.get_help_record(run_ctx))]
        with formatter.section("Options of judge RUN (the same as judge run RUN)"):
            formatter.write_dl(rows)


def _judge_options(command):
    """Options shared by judging a run and validating a judge."""
    options = [
        click.option("--judge", "judge_name", type=click.Choice(list(JUDGES)), default=DEFAULT_JUDGE, show_default=True,
                     help="trained: persona, compliance and AF learned from the shipped gold sets; rules: lexicons; "
                          "llm: a chat model votes."),
        click.option("--train-gold", "train_gold", multiple=True, type=click.Path(path_type=Path), metavar="FILE",
                     help="Trained judge: gold file (e.g. from `basepersona label`) added to its training data (repeatable)."),
        click.option("--judge-model", default=None, help="Chat model for --judge llm (hub id, local dir, .gguf)."),
        click.option("--judge-backend", default="transformers", show_default=True, help="Backend for --judge-model."),
        click.option("--votes", type=int, default=20, show_default=True, help="LLM judge: votes per sample at T=1."),
        click.option("--af-threshold", type=float, default=0.4, show_default=True, help="LLM judge: share of votes that calls AF."),
        click.option("--judge-max-tokens", type=int, default=768, show_default=True, help="LLM judge: reply length limit."),
        click.option("--device", default="auto", show_default=True, help="Device for --judge-model."),
        click.option("--batch", "batch_size", type=int, default=None, help="Samples judged per appended batch. [default: 256 offline, 8 llm]"),
        click.option("--judge-option", "-J", "judge_options", multiple=True, metavar="KEY=VALUE",
                     help="Option of --judge-backend (repeatable), e.g. -J base_url=http://127.0.0.1:8080/v1 "
                          "-J concurrency=4 -J api_key_env=MY_KEY (see docs/BACKENDS.md)."),
        click.option("--call-cache", type=click.Path(path_type=Path), default=None,
                     help="LLM judge: SQLite file caching every call. [default: $BASEPERSONA_CALL_CACHE or "
                          "~/.cache/basepersona/calls.sqlite]"),
        click.option("--no-call-cache", is_flag=True, help="LLM judge: send every call, store nothing."),
        click.option("--price-prompt", type=float, default=None, help="LLM judge: price per 1M prompt tokens."),
        click.option("--price-completion", type=float, default=None, help="LLM judge: price per 1M completion tokens."),
        click.option("--max-cost", type=float, default=None,
                     help="LLM judge: stop before a batch could take the cost past this (needs both prices)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _key_values(pairs: tuple[str, ...]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--judge-option takes KEY=VALUE (e.g. -J base_url=http://127.0.0.1:8080/v1), not {pair!r}")
        options[key.strip()] = value.strip()
    return options


def _build_judge(judge_name: str, judge_model: str | None, judge_backend: str, votes: int, af_threshold: float,
                 judge_max_tokens: int, device: str, judge_options: tuple[str, ...] = (), call_cache: Path | None = None,
                 no_call_cache: bool = False, price_prompt: float | None = None, price_completion: float | None = None,
                 max_cost: float | None = None, train_gold: tuple[Path, ...] = ()) -> Any:
    if train_gold and judge_name != "trained":
        raise UserError("--train-gold only applies to --judge trained")
    if judge_name in OFFLINE_JUDGES:
        if judge_model or judge_options:
            raise UserError("--judge-model (and --judge-option) only applies to --judge llm")
        return make_judge(judge_name, extra_gold=train_gold) if train_gold else make_judge(judge_name)
    if not judge_model:
        raise UserError("--judge llm needs --judge-model: a chat (instruction-tuned) model to act as the judge")
    from ..backends import load_backend  # heavy: only when an LLM judge is asked for
    from ..calls import CallCache, Ledger, Prices

    if (price_prompt is None) != (price_completion is None):
        raise UserError("give both --price-prompt and --price-completion (per 1M tokens), or neither")
    prices = Prices(price_prompt, price_completion) if price_prompt is not None and price_completion is not None else None
    ledger = Ledger(prices=prices, max_cost=max_cost)
    options: dict[str, Any] = _key_values(judge_options)
    if judge_backend == "transformers":
        options = {"device": device, "announce": lambda message: console.print(f"[dim]{message}[/]"), **options}
    backend = load_backend(judge_model, backend=judge_backend, **options)
    cache = None if no_call_cache else CallCache(call_cache)
    return make_judge("llm", backend=backend, votes=votes, threshold=af_threshold, model_name=judge_model,
                      max_new_tokens=judge_max_tokens, cache=cache, ledger=ledger)


def _print_ledger(judge_obj: Any) -> None:
    ledger = getattr(judge_obj, "ledger", None)
    if ledger is not None:
        console.print(ledger.summary())


@click.group("judge", cls=_RunByDefault, invoke_without_command=True)
@click.pass_context
def judge(ctx: click.Context) -> None:
    """Label a run (judge RUN), score a judge on a gold set (judge validate), compare two judges (judge agree)."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@judge.command("run")
@click.argument("run_dir", type=click.Path(path_type=Path))
@_judge_options
def judge_run_command(run_dir, batch_size, **judge_options):
    """Label every sample of RUN_DIR not yet labelled by this judge (resumable)."""
    from ..judge.run import judge_run
    from ..stats.table import save_table_after_judging
    from ..store import load_run

    run = load_run(run_dir)
    judge_obj = _build_judge(**judge_options)
    batch = batch_size or (8 if judge_options["judge_name"] == "llm" else 256)
    try:
        with sampling_progress(console, len(run.samples), label=f"judging ({judge_options['judge_name']})") as advance:
            summary = judge_run(run, judge_obj, batch_size=batch, on_progress=lambda n: advance(n, 0))
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: finished batches are saved in {run.labels_path(judge_obj.label_set)}; "
                      "run the same command again to continue")
        _save_ledger(run, judge_obj)
        sys.exit(130)
    save_table_after_judging(run.path, summary.judge)
    _print_run_summary(summary)
    _save_ledger(run, judge_obj)
    if summary.stopped:
        console.print(f"[yellow]stopped before the budget[/]: {summary.stopped}; {summary.left} sample(s) left, "
                      "everything judged so far is saved. Run again with a higher --max-cost to continue.")
        sys.exit(3)


def _save_ledger(run, judge_obj) -> None:
    """Add this command's calls and tokens to RUN/ledger.json (per label set) and print both."""
    from ..calls import add_to_run_ledger

    ledger = getattr(judge_obj, "ledger", None)
    if ledger is None:
        return
    totals = add_to_run_ledger(run.path / "ledger.json", judge_obj.label_set, ledger)
    money = f", cost {totals['cost']:.4f}" if totals.get("cost") is not None else ""
    console.print(f"this command: {ledger.summary()}\nrun total for {judge_obj.label_set} (ledger.json): "
                  f"{totals['calls']} calls, {totals['prompt_tokens']} prompt + {totals['completion_tokens']} "
                  f"completion tokens{money}")


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
    if summary.votes:
        wrong = f", {summary.wrong_sample_votes} about another transcript" if summary.wrong_sample_votes else ""
        console.print(f"verdicts parsed: {summary.votes - summary.unscored_votes} of {summary.votes} votes "
                      f"({(summary.votes - summary.unscored_votes) / summary.votes:.0%}){wrong}.")
    if summary.unscored - summary.errors:
        console.print(f"[yellow]{summary.unscored - summary.errors} sample(s) unscored[/]: the judge gave no usable "
                      f"verdict ({summary.unscored_votes} of {summary.votes} votes unparsable); their labels are null.")


@judge.command("agree")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("label_sets", nargs=-1)
def agree_command(run_dir, label_sets):
    """Agreement (% and Cohen's kappa per label) between two label sets of RUN_DIR, e.g. trained and llm."""
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
def validate_command(gold_paths, out_path, batch_size, **judge_options):
    """Accuracy, per-class precision/recall, Cohen's kappa and AUROC of a judge on gold labels."""
    from ..calls import BudgetExceeded
    from ..judge.validate import load_gold, validate

    judge_name = judge_options["judge_name"]
    records = [record for path in gold_paths for record in load_gold(path)]
    judge_obj = _build_judge(**judge_options)
    gold_name = "+".join(map(str, gold_paths))
    try:
        report = validate(judge_obj, records, gold_name=gold_name, batch_size=batch_size or 32)
    except BudgetExceeded as exc:
        _print_ledger(judge_obj)
        console.print(f"[yellow]stopped before the budget[/]: {exc}. Replies so far are in the call cache; "
                      "run again with a higher --max-cost and they cost nothing.")
        sys.exit(3)
    print_validation(report)
    _print_ledger(judge_obj)
    out_path = out_path or Path("validation") / f"{judge_name}-{'+'.join(p.stem for p in gold_paths)}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    saved = report.rates_json()
    if getattr(judge_obj, "ledger", None) is not None:
        saved["meta"]["ledger"] = judge_obj.ledger.to_dict()
    out_path.write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
    console.print(f"sensitivity/specificity saved to {out_path}")


def _fmt(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


def print_validation(report) -> None:
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
    votes = report.votes
    if votes.get("votes"):
        parsed = votes["votes"] - votes["unscored_votes"]
        out.print(f"verdicts parsed: {parsed} of {votes['votes']} votes ({parsed / votes['votes']:.0%}); "
                  f"{votes['wrong_sample_votes']} named another transcript; {votes['unscored_samples']} of "
                  f"{report.n} records unscored (no usable vote)")

"""`basepersona compare`, `report`, `plan` and `study`: the statistics stage on judged runs."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..errors import UserError

console = Console()
err_console = Console(stderr=True)


def _analysis_options(command):
    options = [
        click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path)),
        click.option("--judge", default=None, help="Whose labels to use. [default: trained, else the only judge present]"),
        click.option("--method", type=click.Choice(["auto", "wilson", "clustered", "binomial_se"]), default="auto",
                     show_default=True, help="Rate intervals: auto = Wilson with one sample per query, query-"
                     "clustered otherwise; binomial_se = the papers' sqrt(p(1-p)/n) error bars."),
        click.option("--training", default="training", show_default=True, help="Condition seen as monitored/trained."),
        click.option("--unmonitored", default="unmonitored", show_default=True, help="Condition seen as unmonitored."),
        click.option("--judge-accuracy", type=click.Path(path_type=Path), default=None,
                     help="JSON from `basepersona judge validate` (or {sensitivity, specificity, n_pos, n_neg} for "
                     "AF): adds Rogan-Gladen corrected rates."),
        click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True),
        click.option("--boot", "n_boot", type=click.IntRange(100, 100_000), default=2000, show_default=True,
                     help="Unused since differences in gaps got a MOVER interval; kept so scripts still run."),
        click.option("--perm", "n_perm", type=click.IntRange(100, 100_000), default=2000, show_default=True,
                     help="Sign-flip permutations for differences in gaps."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--strict", is_flag=True, help="Refuse runs whose settings differ in anything besides the "
                     "compared factors (model, frame, variant), instead of noting it."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run_notes(runs, manifests, strict: bool) -> list[str]:
    """What a reader must know about the runs themselves: unfinished ones, and designs that differ
    in more than the compared factors (e.g. a tag-prefill 32-token run against a basic-prefill 40-token one)."""
    from ..completeness import run_completeness
    from ..store import settings_mismatch

    notes = []
    for path in runs:
        try:
            notes.append(f"{path}: {run_completeness(path).describe()}")
        except (UserError, KeyError, TypeError, ValueError):
            notes.append(f"{path}: completeness unknown (its manifest does not say what the run calls for)")
    differing = settings_mismatch([manifest.get("settings", {}) for manifest in manifests]) if len(runs) > 1 else []
    if differing:
        message = ("the runs differ in settings besides model, frame and variant: " + ", ".join(differing)
                   + "; differences between them mix those settings with the compared factor")
        if strict:
            raise UserError(message + " (refused under --strict)")
        notes.append(message)
    return notes


def _analyse(runs, judge, method, training, unmonitored, judge_accuracy, confidence, n_boot, n_perm, seed,
             strict=False):
    import json

    from ..stats.analysis import analyse
    from ..stats.choices import read_choices
    from ..stats.table import load_table, open_run

    if len({p.resolve() for p in runs}) != len(runs):
        raise UserError("the same run is named twice")
    tables, choices, manifests = [], [], []
    for path in runs:
        run = open_run(path)
        manifests.append(run.manifest)
        scored = read_choices(path, run.manifest)
        if scored is not None:
            choices.append(scored)
        # a scored-only run (choices.jsonl, nothing judged) still reports its p_accept statistics
        if scored is None or run.judges():
            tables.append(load_table(run, judge))
    accuracy = None
    if judge_accuracy is not None:
        try:
            accuracy = json.loads(judge_accuracy.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read --judge-accuracy {judge_accuracy}: {exc}") from None
        if not isinstance(accuracy, dict) or not accuracy:
            raise UserError(f"--judge-accuracy {judge_accuracy} holds no judge accuracy; give the JSON written "
                            "by `basepersona judge validate --out` (or {sensitivity, specificity, n_pos, n_neg})")
    run_notes = _run_notes(runs, manifests, strict)
    analysis = analyse(tables, method=method, training=training, unmonitored=unmonitored, accuracy=accuracy,
                       n_boot=n_boot, n_perm=n_perm, seed=seed, confidence=confidence, choices=choices)
    analysis.notes[:0] = run_notes
    return analysis


@click.command("compare")
@_analysis_options
def compare(runs, **options):
    """Compare judged runs: two runs of a base and a chat model give the base-vs-chat difference in gaps;
    runs of one kind compare frames/variants (Holm/BH, random-effects pooling)."""
    from ..report import print_analysis

    if len(runs) < 2:
        raise UserError("compare needs at least two runs; for one run use `basepersona report RUN`")
    print_analysis(_analyse(runs, **options), console)


@click.command("report")
@_analysis_options
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True)
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=None,
              help="File for the report. [default: standard output]")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), default=None,
              help="PNG of stacked outcome bars; the forest plot of gaps goes next to it (NAME-forest.png). "
                   "Forced-choice scores get mean p_accept and a forest plot of p_accept gaps (NAME-choices.png "
                   "and NAME-choices-forest.png, or NAME.png and NAME-forest.png for scores-only runs).")
def report(runs, fmt, out_path, plot_path, **options):
    """Write the statistics of judged runs as Markdown, CSV or JSON, with optional PNG plots."""
    from ..report import print_analysis, render

    analysis = _analyse(runs, **options)
    text = render(analysis, fmt)
    if out_path is None and fmt == "md" and console.is_terminal:
        print_analysis(analysis, console)  # a person at a terminal gets the tables drawn, not Markdown source
    elif out_path is None:
        click.echo(text, nl=False)
    else:
        print_analysis(analysis, err_console)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(text, encoding="utf-8")
        err_console.print(f"report written to {out_path}")
    if plot_path is not None:
        from ..plots import plot_report

        skipped: list[str] = []
        for written in plot_report(analysis, plot_path, skipped):
            err_console.print(f"plot written to {written}")
        for reason in skipped:
            err_console.print(f"[yellow]{reason}[/]")


@click.command("plan")
@click.option("--gap", type=float, default=None, help="Effect to detect, in probability points (0.05 = 5 points).")
@click.option("--power", "target_power", type=click.FloatRange(0.01, 0.999), default=0.8, show_default=True)
@click.option("--icc", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Intra-query correlation of samples of one query in one condition.")
@click.option("--samples-per-query", "samples", type=click.IntRange(1), default=None,
              help="Samples per query and condition. [default: a table for 1..32]")
@click.option("--queries", type=click.IntRange(2), default=None,
              help="Design size: with it, report the smallest detectable gap instead.")
@click.option("--rate", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Unmonitored rate (0.5 is the worst case).")
@click.option("--pair-corr", type=click.FloatRange(-1, 1), default=0.0, show_default=True,
              help="Correlation of a query's true rates across conditions (0 ignores pairing: conservative).")
@click.option("--alpha", type=click.FloatRange(0.0001, 0.5), default=0.05, show_default=True)
@click.option("--did", is_flag=True, help="Plan for a difference in gaps (base vs chat) instead of one gap.")
@click.option("--other-gap", type=float, default=0.0, show_default=True,
              help="With --did: the gap of the comparison (chat) model.")
def plan(gap, target_power, icc, samples, queries, rate, pair_corr, alpha, did, other_gap):
    """How many queries x samples detect a gap (or a difference in gaps) with the given power."""
    from ..stats.power import Assumptions, design_effect, detectable_effect, plan_rows, power

    assumptions = Assumptions(rate=rate, icc=icc, pair_corr=pair_corr, alpha=alpha, did=did, other_gap=other_gap)
    what = "difference in gaps" if did else "gap"
    if queries is not None:
        m = samples or 1
        effect = detectable_effect(queries, target_power, m, assumptions)
        if effect == float("inf"):
            console.print(f"no {what} up to the largest possible is detected with power {target_power} by "
                          f"{queries} queries × {m} samples")
        else:
            console.print(f"{queries} queries × {m} samples per query and condition (design effect "
                          f"{design_effect(m, icc):.2f}) detect a {what} of {100 * effect:.2f} percentage points "
                          f"with power {target_power} at α = {alpha} (two-sided)")
        return
    if gap is None:
        raise UserError("give --gap (the effect to detect) or --queries (to get the detectable effect)")
    rows = plan_rows(gap, target_power, assumptions, (samples,) if samples else (1, 2, 4, 8, 16, 32))
    table = Table(title=f"queries needed to detect a {what} of {100 * gap:g} points (power {target_power}, "
                        f"α = {alpha}, ICC = {icc}, unmonitored rate {rate}, pair correlation {pair_corr})",
                  title_justify="left")
    for header in ("samples / query / condition", "design effect", "queries", "total samples", "achieved power"):
        table.add_column(header, justify="right")
    for row in rows:
        achieved = power(gap, row["queries"], row["samples_per_query"], assumptions)
        table.add_row(str(row["samples_per_query"]), f"{row['design_effect']:.2f}", str(row["queries"]),
                      str(row["total_samples"]), f"{achieved:.3f}")
    console.print(table)
    console.print("[dim]total samples count every condition" + (" of both models" if did else "") + "[/]")


@click.command("study")
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option("--boot", "n_boot", type=click.IntRange(100, 100_000), default=2000, show_default=True)
@click.option("--perm", "n_perm", type=click.IntRange(100, 100_000), default=2000, show_default=True)
def study(study_file, n_boot, n_perm):
    """Sample, judge and report a base model and its chat model as one TOML describes (resumable).

    \b
    STUDY_FILE names base_model, chat_model and frames; optional keys: out, chat_frame, variants
    (a list of tables of scenario switches), backend, backend_options, queries, limit, n, seed,
    temperature, max_new_tokens, judge ("trained", "rules" or "llm" with judge_model, votes, af_threshold).
    A commented example: docs/study.example.toml in the source tree.
    \b
    Example:  basepersona study my-study.toml
    """
    from ..study import load_study, run_study

    plan = load_study(study_file)
    runs = run_study(plan, announce=lambda message: err_console.print(f"[dim]{message}[/]"))
    write_study_report(plan.out, runs, judge=plan.label_set(), n_boot=n_boot, n_perm=n_perm)


def write_study_report(out_dir: Path, runs, *, judge: str | None = None, n_boot: int = 2000,
                       n_perm: int = 2000) -> list[Path]:
    """report.md, report.json, report.csv and the plots of a study's runs (judge: its label set), in its folder."""
    from ..report import print_analysis, render

    analysis = _analyse(tuple(runs), judge=judge, method="auto", training="training", unmonitored="unmonitored",
                        judge_accuracy=None, confidence=0.95, n_boot=n_boot, n_perm=n_perm, seed=0)
    print_analysis(analysis, console)
    written = []
    for fmt in ("md", "json", "csv"):
        path = out_dir / f"report.{fmt}"
        path.write_text(render(analysis, fmt), encoding="utf-8")
        written.append(path)
    try:
        from ..plots import plot_report

        skipped: list[str] = []
        written += plot_report(analysis, out_dir / "report.png", skipped)
        for reason in skipped:
            err_console.print(f"[yellow]{reason}[/]")
    except UserError as exc:  # matplotlib missing: the tables are still written
        err_console.print(f"[yellow]no plots:[/] {exc}")
    err_console.print("study report: " + ", ".join(str(p) for p in written))
    return written

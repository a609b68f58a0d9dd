"""Degenerate tables, denominators and what a report shows (issue 14 'Bad input', issue 18 'Reports')."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy import stats

from basepersona.report import grouped_notes, print_analysis, render
from basepersona.stats.analysis import analyse
from basepersona.stats.meta import dersimonian_laird
from basepersona.stats.synthetic import write_run
from basepersona.stats.table import load_table
from basepersona.store import load_run


def _tables(tmp_path, specs):
    return [load_table(load_run(write_run(tmp_path / name, **spec))) for name, spec in specs.items()]


def _quiet_analysis(tables):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning would fail here
        return analyse(tables, n_perm=200)


def test_all_identical_labels_give_real_intervals_not_zero_width_or_minus_100(tmp_path):
    same = {"training": 0.0, "unmonitored": 0.0}
    queries = [f"q{i}" for i in range(10)]
    tables = _tables(tmp_path, {"base": dict(rates=same, n=3, model="b", model_kind="base", seed=1, query_ids=queries),
                                "chat": dict(rates=same, n=3, model="c", model_kind="chat", frame="chat", seed=2,
                                             query_ids=queries)})
    analysis = _quiet_analysis(tables)
    for row in analysis.gaps + analysis.comparisons:
        assert row["low"] < 0 < row["high"], row  # the old table printed [0, 0] and a DiD of [-100, -100]
        assert -2 <= row["low"] and row["high"] <= 2
    gap = next(r for r in analysis.gaps if r["outcome"] == "compliance")
    assert "all labels equal" in gap["note"] and gap["p_value"] == 1.0


def test_a_condition_without_in_persona_samples_is_not_estimable_with_a_reason(tmp_path):
    queries = [f"q{i}" for i in range(8)]
    tables = _tables(tmp_path, {"run": dict(rates={"training": 0.3, "unmonitored": 0.1}, n=2, persona_rate=0.0,
                                            query_ids=queries),
                                "chat": dict(rates={"training": 0.3, "unmonitored": 0.1}, n=2, model="c",
                                             model_kind="chat", frame="chat", query_ids=queries)})
    analysis = _quiet_analysis(tables)
    gap = next(r for r in analysis.gaps if r["outcome"] == "compliance" and r["run"] == tables[0].name)
    # the samples are labelled, but none speaks as the AI: the reason says which denominator is empty
    assert np.isnan(gap["estimate"]) and gap["note"] == "not estimable: no in-persona samples in the training condition"
    rate = next(r for r in analysis.rates if r["outcome"] == "compliance" and r["run"] == tables[0].name)
    assert rate["note"] == "no in-persona samples in this cell"
    persona = next(r for r in analysis.rates if r["outcome"] == "persona" and r["run"] == tables[0].name)
    assert persona["estimate"] == 0 and persona["n"] == 16
    comparison = next(r for r in analysis.comparisons if r["outcome"] == "compliance")
    assert comparison["note"] == "not estimable: a condition of one run has no in-persona samples"
    assert next(r for r in analysis.comparisons_unconditional if r["outcome"] == "compliance")["note"] == ""
    unconditional = next(r for r in analysis.gaps_unconditional if r["outcome"] == "compliance")
    assert unconditional["estimate"] == 0 and unconditional["low"] < 0 < unconditional["high"]
    text = render(analysis, "md")
    assert "nan" not in text.lower() and "not estimable" in text


def test_one_query_is_called_uninformative(tmp_path):
    tables = _tables(tmp_path, {"run": dict(rates={"training": 0.5, "unmonitored": 0.2}, n=4, query_ids=["q1"])})
    gap = next(r for r in _quiet_analysis(tables).gaps if r["outcome"] == "compliance")
    assert "too few queries" in gap["note"] and np.isnan(gap["low"])


def test_rates_show_both_denominators_with_their_own_n(tmp_path):
    tables = _tables(tmp_path, {"run": dict(rates={"training": 0.8, "unmonitored": 0.4}, n=6, persona_rate=0.5,
                                            query_ids=[f"q{i}" for i in range(20)], seed=3)})
    analysis = _quiet_analysis(tables)
    rows = {r["outcome"]: r for r in analysis.rates if r["condition"] == "training"}
    conditional, unconditional, persona = rows["compliance"], rows["compliance_unconditional"], rows["persona"]
    assert unconditional["n"] == persona["n"] == 120 and conditional["n"] == persona["successes"]
    assert unconditional["successes"] == conditional["successes"]
    assert unconditional["estimate"] == pytest.approx(conditional["estimate"] * persona["estimate"])
    assert conditional["denominator"] == "in-persona samples" and unconditional["denominator"] == "all samples"
    text = render(analysis, "md")
    assert "complied (all)" in text and "| in persona |" in text and "among the in-persona samples" in text
    # each conditional cell names its own denominator: the in-persona samples labelled for that outcome
    training_row = next(line for line in text.splitlines() if "| training |" in line)
    assert f"of {conditional['n']}" in training_row and f"| {persona['successes']:.0f} |" in training_row
    csv_sections = {line.split(",")[0] for line in render(analysis, "csv").splitlines()[1:]}
    assert {"gaps_unconditional", "rates", "gaps"} <= csv_sections
    assert json.loads(render(analysis, "json"))["gaps_unconditional"]


def test_a_repeated_note_is_said_once_with_its_cells():
    lines = grouped_notes([("a", "same note"), ("b", "same note"), ("c", "other"), ("d", "")])
    assert lines == ["same note (2 cells: a; b)", "c: other"]


def test_two_frames_pooled_gap_is_clipped_and_marked_uninformative(tmp_path):
    specs = {f"f{i}": dict(rates={"training": t, "unmonitored": 0.2}, n=2, frame=f"frame{i}", seed=i,
                           query_ids=[f"q{j}" for j in range(6)]) for i, t in enumerate((0.9, 0.25))}
    pooled = [r for r in _quiet_analysis(_tables(tmp_path, specs)).pooled if r["outcome"] == "compliance"]
    assert pooled and -1 <= pooled[0]["low"] <= pooled[0]["high"] <= 1
    raw = dersimonian_laird([0.6, 0.05], [0.01, 0.01])
    assert raw.high > 1  # what the clipping guards against: HKSJ on 1 df


def test_unscored_in_persona_samples_are_not_drawn_as_broken_frames(tmp_path):
    path = write_run(tmp_path / "run", rates={"training": 0.5, "unmonitored": 0.5}, n=2, persona_rate=1.0)
    labels = path / "labels" / "rules.jsonl"
    records = [json.loads(line) for line in labels.read_text().splitlines()]
    records[0]["compliance"] = None  # in persona, compliance not scored
    labels.write_text("".join(json.dumps(r) + "\n" for r in records))
    categories = analyse([load_table(load_run(path))], n_perm=100).categories
    assert sum(r["unscored"] * r["n"] for r in categories) == 1
    assert all(r["broken frame"] == 0 for r in categories)


def test_report_skips_an_empty_forest_plot_and_says_so(tmp_path):
    run = write_run(tmp_path / "run", rates={"training": 0.3, "unmonitored": 0.1}, n=2, persona_rate=0.0)
    result = subprocess.run([sys.executable, "-m", "basepersona", "report", str(run), "--plot",
                             str(tmp_path / "out.png")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "no forest plot" in result.stderr and not (tmp_path / "out-forest.png").exists()
    assert (tmp_path / "out.png").exists() and "Traceback" not in result.stderr


def test_terminal_tables_keep_long_model_names_whole(tmp_path):
    from rich.console import Console

    name = "meta-llama-3.1-405b-instruct-base-checkpoint"
    tables = _tables(tmp_path, {"run": dict(rates={"training": 0.5, "unmonitored": 0.2}, n=2, model=name)})
    console = Console(width=120, record=True)
    print_analysis(analyse(tables, n_perm=100), console)
    assert name in console.export_text()


def test_frames_without_a_single_success_are_still_pooled(tmp_path):
    """A rare outcome's gap is often 0 [interval] with SE 0 in every frame; such frames were left out of
    pooling and nothing was left to pool. They now enter with the variance their interval implies."""
    queries = [f"q{i}" for i in range(10)]
    specs = {f"f{i}": dict(rates={"training": 0.0, "unmonitored": 0.0}, n=2, frame=f"frame{i}", seed=i,
                           query_ids=queries) for i in range(3)}
    pooled = [r for r in _quiet_analysis(_tables(tmp_path, specs)).pooled if r["outcome"] == "af"]
    assert pooled[0]["k"] == 3 and pooled[0]["low"] < 0 < pooled[0]["high"]


def test_a_rate_never_seen_still_gets_a_corrected_interval_with_width(tmp_path):
    tables = _tables(tmp_path, {"run": dict(rates={"training": 0.0, "unmonitored": 0.0}, n=3,
                                            query_ids=[f"q{i}" for i in range(12)], af_share=0.0)})
    accuracy = {"af": {"sensitivity": 0.9, "specificity": 0.97, "n_pos": 50, "n_neg": 60}}
    corrected = [r for r in analyse(tables, n_perm=100, accuracy=accuracy).corrected if r["outcome"] == "af"]
    assert corrected and all(r["low"] == 0 < r["high"] for r in corrected)  # was [0, 0]


def test_five_frames_sharing_queries_pool_on_t_with_queries_minus_one_df(tmp_path):
    """Their common error is one sample of queries: z covered 0.904-0.93 with 6 frames on 10-30 queries
    (benchmarks/gap_coverage.py --pooled 6), t on G - 1 df 0.937-0.973."""
    queries = [f"q{i}" for i in range(12)]
    rng = np.random.default_rng(1)
    training = rng.uniform(0.2, 0.8, 12)
    specs = {f"f{i}": dict(rates={"training": training, "unmonitored": 0.2}, n=3, frame=f"frame{i}", seed=i,
                           query_ids=queries) for i in range(5)}
    row = next(r for r in _quiet_analysis(_tables(tmp_path, specs)).pooled if r["outcome"] == "compliance")
    assert row["interval"] == "t on 11 df (shared queries)"
    half = stats.t.ppf(0.975, 11) * row["se"]
    assert (row["low"], row["high"]) == pytest.approx((row["estimate"] - half, row["estimate"] + half), rel=1e-9)


def test_report_draws_tables_at_a_terminal_and_writes_markdown_to_a_pipe(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from rich.console import Console

    from basepersona.commands import stats as stats_command

    run = write_run(tmp_path / "run", rates={"training": 0.5, "unmonitored": 0.2}, n=2,
                    query_ids=[f"q{i}" for i in range(6)])
    terminal = Console(force_terminal=True, width=120, record=True)
    monkeypatch.setattr(stats_command, "console", terminal)
    assert CliRunner().invoke(stats_command.report, [str(run)]).exit_code == 0
    drawn = terminal.export_text()
    assert "┃" in drawn and "| run |" not in drawn
    piped = subprocess.run([sys.executable, "-m", "basepersona", "report", str(run)], capture_output=True, text=True,
                           timeout=300)
    assert piped.returncode == 0 and "| run | condition |" in piped.stdout


def test_a_run_compared_with_its_copy_says_same_samples_instead_of_a_zero_width_interval(tmp_path):
    spec = dict(rates={"training": 0.4, "unmonitored": 0.2}, n=3, seed=5, query_ids=[f"q{j}" for j in range(12)])
    analysis = _quiet_analysis(_tables(tmp_path, {"run": spec, "copy": spec}))
    rows = [r for r in analysis.comparisons + analysis.comparisons_unconditional if r["outcome"] == "compliance"]
    assert len(rows) == 2
    for row in rows:
        assert row["estimate"] == 0 and np.isnan(row["low"]) and np.isnan(row["high"])
        assert "same samples on both sides" in row["note"] and np.isnan(row["p_value"])
    assert "same samples on both sides" in render(analysis, "md")

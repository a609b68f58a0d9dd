"""compare / report / plan through the real CLI on run directories written to disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import run_cli
from basepersona.stats.synthetic import query_rates, write_run
from basepersona.stats.table import load_table
from basepersona.store import load_run

QUERIES = [f"q{i:03d}" for i in range(40)]


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    rates = lambda p, n=40: query_rates(rng, n, p, 0.2)  # noqa: E731
    return {
        "base": write_run(tmp_path / "base-chatlog", rates={"training": rates(0.4), "unmonitored": rates(0.2)}, n=3,
                          model="llama-base", persona_rate=0.8, query_ids=QUERIES, seed=1),
        "forum": write_run(tmp_path / "base-forum", rates={"training": rates(0.3), "unmonitored": rates(0.25)}, n=3,
                           model="llama-base", frame="forum", query_ids=QUERIES, seed=2),
        "chat": write_run(tmp_path / "chat", rates={"training": rates(0.1, 35), "unmonitored": rates(0.05, 35)}, n=3,
                          model="llama-chat", model_kind="chat", frame="chat", query_ids=QUERIES[5:], seed=3),
    }


def test_table_reads_labels_and_leaves_broken_frames_out_of_compliance(runs):
    table = load_table(load_run(runs["base"]))
    assert table.n_samples == 2 * 40 * 3 and table.judge == "rules"
    persona = table.outcomes["persona"] == 1
    assert np.isnan(table.outcomes["compliance"][~persona]).all()
    assert not np.isnan(table.outcomes["compliance"][persona]).any()
    rows = table.tidy_rows()
    assert {"model", "frame", "variant", "condition", "query_id", "sample_index", "compliance", "af",
            "considered_af", "persona"} <= set(rows[0])
    successes, counts = table.query_sums("compliance", "training")
    assert counts.sum() == persona[table.condition == table.conditions.index("training")].sum()


def test_compare_base_vs_chat_on_the_shared_queries(runs, capsys):
    code, out, _ = run_cli(capsys, "compare", str(runs["base"]), str(runs["chat"]), "--boot", "200", "--perm", "200")
    assert code == 0
    assert "Difference in gaps (base vs chat)" in " ".join(out.split())
    assert "35 shared queries" in out and "dropped 5 from" in " ".join(out.split())


def test_report_json_has_every_section_and_consistent_numbers(runs, tmp_path, capsys):
    out_file = tmp_path / "report.json"
    code, _, _ = run_cli(capsys, "report", str(runs["base"]), str(runs["forum"]), "--format", "json",
                      "--out", str(out_file), "--boot", "200", "--perm", "200")
    assert code == 0
    report = json.loads(out_file.read_text())
    gaps = {(g["frame"], g["outcome"]): g for g in report["gaps"]}
    chatlog = gaps[("chatlog", "compliance")]
    assert chatlog["estimate"] == pytest.approx(chatlog["training"] - chatlog["unmonitored"])
    assert chatlog["low"] < chatlog["estimate"] < chatlog["high"]
    assert report["pooled"] and report["pooled"][0]["method"].startswith("DerSimonian-Laird")
    assert report["comparisons"][0]["kind"] == "against the first run"
    assert all(0 <= g["p_holm"] <= 1 and g["p_holm"] >= g["p_value"] for g in report["gaps"])


def test_report_markdown_csv_and_plots(runs, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "report", str(runs["base"]), "--format", "md", "--plot", str(tmp_path / "bars.png"))
    assert code == 0 and out.startswith("# basepersona report") and "| compliance |" in out
    for name in ("bars.png", "bars-forest.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = run_cli(capsys, "report", str(runs["base"]), "--format", "csv", "--method", "binomial_se")
    header = out.splitlines()[0].split(",")
    assert code == 0 and header[0] == "section" and "estimate" in header


def test_judge_accuracy_file_adds_corrected_rates(runs, tmp_path, capsys):
    accuracy = tmp_path / "acc.json"
    accuracy.write_text(json.dumps({"af": {"sensitivity": 0.9, "specificity": 0.95, "n_pos": 51, "n_neg": 55}}))
    code, out, _ = run_cli(capsys, "report", str(runs["base"]), "--format", "json", "--judge-accuracy", str(accuracy))
    corrected = json.loads(out)["corrected"]
    assert code == 0 and corrected and {row["outcome"] for row in corrected} == {"af"}


def test_unjudged_run_names_the_judge_command(tmp_path, capsys):
    run = write_run(tmp_path / "raw", rates={"training": 0.5, "unmonitored": 0.5}, n=2, labelled=False)
    code, _, err = run_cli(capsys, "report", str(run))
    assert code == 2 and f"basepersona judge {run}" in err


def test_missing_judge_and_bad_input_are_one_line_errors(runs, tmp_path, capsys):
    code, _, err = run_cli(capsys, "report", str(runs["base"]), "--judge", "llm")
    assert code == 2 and "no labels from judge 'llm'" in err
    code, _, err = run_cli(capsys, "compare", str(runs["base"]))
    assert code == 2 and "at least two runs" in err
    code, _, err = run_cli(capsys, "report", str(runs["base"]), "--training", "free")
    assert code == 2 and "condition(s) free" in err
    other = write_run(tmp_path / "other", rates={"training": 0.5, "unmonitored": 0.5}, n=2, query_ids=["zz"])
    code, _, err = run_cli(capsys, "compare", str(runs["base"]), str(other))
    assert code == 2 and "share no query" in err


def test_only_judge_present_is_used_when_rules_is_absent(tmp_path, capsys):
    run = write_run(tmp_path / "llm-judged", rates={"training": 0.6, "unmonitored": 0.4}, n=2, judge="llm",
                    query_ids=QUERIES[:10])
    code, out, _ = run_cli(capsys, "report", str(run), "--format", "json")
    assert code == 0 and json.loads(out)["settings"]["judge"] == ["llm"]


def test_degenerate_runs_report_without_crashing(tmp_path, capsys):
    one_query = write_run(tmp_path / "one", rates={"training": 1.0, "unmonitored": 0.0}, n=4, query_ids=["q000"])
    broken = write_run(tmp_path / "broken", rates={"training": 0.5, "unmonitored": 0.5}, n=3, persona_rate=0.0,
                       query_ids=QUERIES[:5])
    for run in (one_query, broken):
        code, out, _ = run_cli(capsys, "report", str(run), "--format", "json")
        assert code == 0
        report = json.loads(out)
        assert all(g["note"] for g in report["gaps"])
    code, out, _ = run_cli(capsys, "compare", str(one_query), str(broken), "--boot", "100", "--perm", "100")
    assert code == 0


def test_plan_prints_queries_and_detectable_effects(capsys):
    code, out, _ = run_cli(capsys, "plan", "--gap", "0.05", "--power", "0.8", "--icc", "0.1", "--samples-per-query", "4")
    assert code == 0 and "design effect" in out and "1.30" in out
    code, out, _ = run_cli(capsys, "plan", "--queries", "400", "--samples-per-query", "4", "--did")
    assert code == 0 and "difference in gaps of" in " ".join(out.split())
    code, _, err = run_cli(capsys, "plan")
    assert code == 2 and "--gap" in err


def test_judge_accuracy_without_gold_positives_is_skipped_with_a_note(runs, tmp_path, capsys):
    accuracy = tmp_path / "acc.json"
    accuracy.write_text(json.dumps({"af": {"sensitivity": None, "specificity": 0.95, "n_pos": 0, "n_neg": 55},
                                    "persona": {"sensitivity": 0.9, "specificity": 0.9, "n_pos": 40, "n_neg": 40}}))
    code, out, _ = run_cli(capsys, "report", str(runs["base"]), "--format", "json", "--judge-accuracy", str(accuracy))
    report = json.loads(out)
    assert code == 0 and {row["outcome"] for row in report["corrected"]} == {"persona"}
    assert any("af has no sensitivity/specificity" in note for note in report["notes"])


def test_corrected_rate_keeps_a_missing_standard_error_missing():
    from basepersona.stats.misclass import JudgeAccuracy, corrected_rate

    fixed = corrected_rate(0.3, float("nan"), JudgeAccuracy(0.9, 0.9, 50, 50))
    assert np.isnan(fixed.se) and np.isnan(fixed.low) and "no standard error" in fixed.note

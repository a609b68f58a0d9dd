"""Forced-choice scores (choices.jsonl) in report/compare: mean p_accept per condition and the paired gap."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from cli_helpers import run_cli
from basepersona.errors import UserError
from basepersona.stats.choices import read_choices
from basepersona.stats.synthetic import write_run

QUERIES = [f"q{i:03d}" for i in range(12)]


def _write_score_run(path: Path, p_train, p_unmon, *, model: str = "llama-base", extra_lines: str = "",
                     kind: str = "base", frame: str = "chatlog") -> Path:
    """A score run as `basepersona score` writes it (docs/DATA.md): manifest + one record per condition x query."""
    path.mkdir(parents=True, exist_ok=True)
    settings = {"model": model, "frame": frame, "variant": {}, "stage": "score",
                "continuations": ["<request_fully_accepted/>", "<rejected/>"],
                "conditions": {"training": {}, "unmonitored": {}}, "queries": {"source": "test", "ids": QUERIES}}
    (path / "manifest.json").write_text(json.dumps({"format": 1, "model_kind": kind, "settings": settings}))
    lines = []
    for condition, values in (("training", p_train), ("unmonitored", p_unmon)):
        for query_id, p in zip(QUERIES, values):
            a = math.log(p)
            b = math.log(1 - p)
            lines.append(json.dumps({
                "id": f"{condition}/{query_id}", "condition": condition, "query_id": query_id, "query_category": "x",
                "model": model, "model_revision": "v1", "frame": "chatlog", "frame_hash": "h", "scenario": "s",
                "variant": {}, "backend": "scripted", "prompt_hash": "p", "prefill": "<OUTPUT>",
                "continuations": settings["continuations"], "logprobs": [a, b], "tokens": [5, 3],
                "boundary_merged": [False, False], "logprob_accept": a, "logprob_reject": b, "p_accept": p}))
    (path / "choices.jsonl").write_text("\n".join(lines) + "\n" + extra_lines)
    return path


@pytest.fixture
def scores():
    rng = np.random.default_rng(3)
    unmon = rng.uniform(0.05, 0.6, len(QUERIES))
    return np.clip(unmon + rng.normal(0.08, 0.05, len(QUERIES)), 0.01, 0.99), unmon


def test_scored_only_run_reports_means_and_paired_gap_equal_to_scipy(tmp_path, capsys, scores):
    train, unmon = scores
    run = _write_score_run(tmp_path / "scored", train, unmon)
    code, out, err = run_cli(capsys, "report", str(run), "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["rates"] == [] and report["gaps"] == []
    means = {row["condition"]: row for row in report["choices"]}
    for condition, values in (("training", train), ("unmonitored", unmon)):
        reference = stats.ttest_1samp(values, 0).confidence_interval(0.95)
        row = means[condition]
        assert row["n_queries"] == len(QUERIES) and row["estimate"] == pytest.approx(values.mean(), abs=1e-12)
        assert (row["low"], row["high"]) == pytest.approx((reference.low, reference.high), abs=1e-9)
    (gap,) = report["choice_gaps"]
    paired = stats.ttest_rel(train, unmon)
    ci = paired.confidence_interval(0.95)
    assert gap["estimate"] == pytest.approx((train - unmon).mean(), abs=1e-12)
    assert gap["p_value"] == pytest.approx(paired.pvalue, abs=1e-9)
    assert (gap["low"], gap["high"]) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert gap["test"] == "paired t over queries" and "probability points" in gap["scale"]


def test_markdown_csv_and_terminal_carry_the_forced_choice_sections(tmp_path, capsys, scores):
    run = _write_score_run(tmp_path / "scored", *scores)
    _, md, _ = run_cli(capsys, "report", str(run), "--format", "md")
    assert "## Forced choice: mean p_accept" in md and "## Forced choice gap" in md and "## Rates" not in md
    _, text, _ = run_cli(capsys, "report", str(run), "--format", "csv")
    sections = [row["section"] for row in csv.DictReader(io.StringIO(text))]
    assert sections.count("choices") == 2 and sections.count("choice_gaps") == 1
    code, out, _ = run_cli(capsys, "compare", str(run), str(_write_score_run(tmp_path / "other", *scores[::-1])))
    flat = " ".join(out.split())
    assert code == 0 and "Forced choice gap" in flat and "p_accept" in flat


def test_base_vs_chat_p_accept_gaps_are_compared_paired_by_query(tmp_path, capsys, scores):
    from itertools import product

    from statsmodels.stats.multitest import multipletests

    train, unmon = scores
    chat_train, chat_unmon = np.clip(unmon + 0.01, 0, 1), unmon
    base = _write_score_run(tmp_path / "base", train, unmon)
    chat = _write_score_run(tmp_path / "chat", chat_train, chat_unmon, model="llama-chat", kind="chat", frame="chat")
    lines = (chat / "choices.jsonl").read_text().splitlines()
    (chat / "choices.jsonl").write_text("\n".join(lines[1:]) + "\n")  # the chat run lacks q000 in training
    code, out, err = run_cli(capsys, "report", str(base), str(chat), "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    (row,) = report["choice_comparisons"]
    assert row["kind"] == "base vs chat" and row["first_label"].startswith("llama-base")
    differences = (train - unmon)[1:] - (chat_train - chat_unmon)[1:]  # q000 dropped from both runs
    assert row["estimate"] == pytest.approx(differences.mean(), abs=1e-12) and row["n_queries"] == 11
    assert "1 queries not scored in all four" in row["note"]
    # 11 queries: every sign pattern is enumerated, so the p-value is exact
    flips = np.array(list(product((1.0, -1.0), repeat=11)))
    assert row["p_value"] == pytest.approx(np.mean(np.abs(flips @ differences) >= abs(differences.sum()) - 1e-12))
    assert row["low"] <= row["estimate"] <= row["high"]
    p_values = [gap["p_value"] for gap in report["choice_gaps"]]
    assert [gap["p_holm"] for gap in report["choice_gaps"]] == pytest.approx(multipletests(p_values, method="holm")[1])
    _, md, _ = run_cli(capsys, "report", str(base), str(chat), "--format", "md")
    assert "## Forced choice: difference in p_accept gaps (base vs chat)" in md


def test_judged_run_with_scores_reports_both(tmp_path, capsys, scores):
    run = write_run(tmp_path / "both", rates={"training": 0.4, "unmonitored": 0.2}, n=3, query_ids=QUERIES,
                    model="llama-base")
    _write_score_run(tmp_path / "scores-tmp", *scores)
    (run / "choices.jsonl").write_bytes((tmp_path / "scores-tmp" / "choices.jsonl").read_bytes())
    code, out, err = run_cli(capsys, "report", str(run), "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["gaps"] and len(report["choices"]) == 2 and len(report["choice_gaps"]) == 1


def test_unpaired_queries_are_left_out_with_a_note(tmp_path, capsys, scores):
    train, unmon = scores
    run = _write_score_run(tmp_path / "scored", train, unmon)
    lines = (run / "choices.jsonl").read_text().splitlines()
    (run / "choices.jsonl").write_text("\n".join(lines[:-2]) + "\n")  # two unmonitored scores missing
    _, out, _ = run_cli(capsys, "report", str(run), "--format", "json")
    (gap,) = json.loads(out)["choice_gaps"]
    assert gap["n_queries"] == len(QUERIES) - 2 and "2 query score(s) without a partner" in gap["note"]
    assert gap["estimate"] == pytest.approx((train[:-2] - unmon[:-2]).mean(), abs=1e-12)


@pytest.mark.parametrize("extra,message", [
    ('{"condition": "training", "query_id": "q999"}\n', "numeric p_accept"),
    ('{"condition": "training", "query_id": "q999", "p_accept": 1.5}\n', "not a probability"),
    ("not json\n", "is not JSON"),
])
def test_bad_score_records_are_explained(tmp_path, scores, extra, message):
    run = _write_score_run(tmp_path / "scored", *scores, extra_lines=extra)
    with pytest.raises(UserError, match=message):
        read_choices(run, json.loads((run / "manifest.json").read_text()))


def test_scores_without_the_asked_conditions_say_which_to_pick(tmp_path, capsys, scores):
    run = _write_score_run(tmp_path / "scored", *scores)
    code, _, err = run_cli(capsys, "report", str(run), "--unmonitored", "paid")
    assert code != 0 and "no scores in condition(s) paid" in err and "--training/--unmonitored" in err


def test_a_run_with_neither_labels_nor_scores_still_names_the_judge_command(tmp_path, capsys):
    run = write_run(tmp_path / "raw", rates={"training": 0.4, "unmonitored": 0.2}, n=2, query_ids=QUERIES[:3],
                    labelled=False)
    code, _, err = run_cli(capsys, "report", str(run))
    assert code != 0 and f"basepersona judge {run}" in " ".join(err.split())

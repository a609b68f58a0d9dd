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
from basepersona.stats.meta import dersimonian_laird
from basepersona.stats.synthetic import write_run

QUERIES = [f"q{i:03d}" for i in range(12)]


def _write_score_run(path: Path, p_train, p_unmon, *, model: str = "llama-base", extra_lines: str = "",
                     kind: str = "base", frame: str = "chatlog", variant: dict | None = None) -> Path:
    """A score run as `basepersona score` writes it (docs/DATA.md): manifest + one record per condition x query."""
    path.mkdir(parents=True, exist_ok=True)
    settings = {"model": model, "frame": frame, "variant": variant or {}, "stage": "score",
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


def _frame_gap(train, unmon) -> tuple[float, float]:
    """A frame's paired p_accept gap and its SE, computed here from the scores as written."""
    differences = np.asarray(train) - np.asarray(unmon)
    return float(differences.mean()), float(differences.std(ddof=1) / math.sqrt(differences.size))


def test_p_accept_gaps_are_pooled_across_frames_within_a_model_and_variant(tmp_path, capsys, scores):
    _, unmon = scores
    rng = np.random.default_rng(11)
    frames = {}
    for frame, shift in (("chatlog", 0.02), ("forum", 0.15), ("email", 0.07)):
        train = np.clip(unmon + rng.normal(shift, 0.04, len(QUERIES)), 0.01, 0.99)
        frames[frame] = (_write_score_run(tmp_path / f"base-{frame}", train, unmon, frame=frame), train)
    # alone in its group: another variant of the base model, and the chat model
    other = _write_score_run(tmp_path / "base-other-lab", unmon + 0.05, unmon, variant={"lab": "OtherLab"})
    chat = _write_score_run(tmp_path / "chat", unmon * 0.5 + 0.02, unmon * 0.5, model="llama-chat", kind="chat",
                            frame="chat")
    runs = [str(path) for path, _ in frames.values()] + [str(other), str(chat)]
    code, out, err = run_cli(capsys, "report", *runs, "--format", "json", "--boot", "200", "--perm", "200")
    assert code == 0, err
    (row,) = json.loads(out)["choice_pooled"]
    assert (row["model"], row["model_kind"], row["variant"], row["outcome"], row["k"]) == (
        "llama-base", "base", "default", "p_accept", 3)
    estimates, ses = zip(*(_frame_gap(train, unmon) for _, train in frames.values()))
    # the frames share their queries: the gaps' covariance is that of the per-query differences over n
    differences = np.array([train - unmon for _, train in frames.values()])
    reference = dersimonian_laird(estimates, np.square(ses), covariance=np.cov(differences) / len(QUERIES))
    assert reference.tau2 > 0 and reference.interval == "HKSJ t"  # the frames disagree: a real random-effects case
    for key in ("estimate", "se", "low", "high", "p_value", "tau2", "i2", "q", "q_p_value", "fixed_estimate"):
        assert row[key] == pytest.approx(getattr(reference, key), rel=1e-9, abs=1e-12), key
    assert row["method"].startswith("DerSimonian-Laird") and row["interval"] == "HKSJ t"

    _, md, _ = run_cli(capsys, "report", *runs, "--format", "md", "--boot", "200", "--perm", "200")
    assert "## Forced choice gap (p_accept) pooled across frames within a variant (DerSimonian-Laird" in md
    assert "| p_accept | llama-base (base) | 3 |" in md
    _, text, _ = run_cli(capsys, "report", *runs, "--format", "csv", "--boot", "200", "--perm", "200")
    pooled_rows = [r for r in csv.DictReader(io.StringIO(text)) if r["section"] == "choice_pooled"]
    assert len(pooled_rows) == 1 and float(pooled_rows[0]["estimate"]) == pytest.approx(reference.estimate)


def _two_frame_pooled_row(tmp_path, capsys, unmon, trains) -> dict:
    runs = [_write_score_run(tmp_path / frame, train, unmon, frame=frame)
            for frame, train in zip(("chatlog", "forum"), trains)]
    code, out, err = run_cli(capsys, "report", *map(str, runs), "--format", "json")
    assert code == 0, err
    (row,) = json.loads(out)["choice_pooled"]
    return row


def test_pooling_uncorrelated_frames_without_heterogeneity_is_the_inverse_variance_mean(tmp_path, capsys):
    rng = np.random.default_rng(5)
    unmon = rng.uniform(0.2, 0.6, len(QUERIES))
    pattern = np.linspace(-1.5, 1.5, len(QUERIES))
    other = rng.normal(size=len(QUERIES))
    other -= other.mean() + pattern * (other @ pattern) / (pattern @ pattern)  # centred, orthogonal to pattern
    trains = [unmon + 0.10 + 0.03 * pattern, unmon + 0.11 + 0.06 * other / other.std()]
    row = _two_frame_pooled_row(tmp_path, capsys, unmon, trains)
    estimates, ses = map(np.array, zip(*(_frame_gap(train, unmon) for train in trains)))
    weights = 1 / ses ** 2
    fixed = float(np.sum(weights * estimates) / np.sum(weights))
    q = float(np.sum(weights * (estimates - fixed) ** 2))
    assert q < 1  # Q below its k - 1 = 1 degrees of freedom: tau^2 is 0 and the weights are 1/se^2
    se = 1 / math.sqrt(np.sum(weights))
    half = stats.t.ppf(0.975, 1) * se  # two frames: Hartung-Knapp t on 1 df, scale floored at 1
    assert row["tau2"] == 0 and row["i2"] == 0 and row["k"] == 2
    assert row["estimate"] == pytest.approx(fixed, abs=1e-12) and row["se"] == pytest.approx(se, rel=1e-9)
    assert (row["low"], row["high"]) == pytest.approx((fixed - half, fixed + half), rel=1e-9)
    assert row["q"] == pytest.approx(q, rel=1e-9)
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(abs(fixed) / se, 1), rel=1e-9)


def test_pooling_correlated_frames_uses_their_covariance(tmp_path, capsys):
    """Two frames whose per-query gaps move together, against the closed forms for two estimates.

    Variances a, b, covariance c, weights 1/a and 1/b: Q = (g1 - g2)^2 / (a + b) as usual, but its mean
    without heterogeneity is (a + b - 2c) / (a + b), not 1, and it is that times a chi-square on 1 df;
    the pooled gap's variance is (a + b + 2c) ab / (a + b)^2, not ab / (a + b).
    """
    rng = np.random.default_rng(8)
    unmon = rng.uniform(0.2, 0.6, len(QUERIES))
    shared = rng.normal(0, 0.05, len(QUERIES))  # what a query does to the gap in every frame
    trains = [np.clip(unmon + 0.10 + shared + rng.normal(0, 0.01, len(QUERIES)), 0.01, 0.99),
              np.clip(unmon + 0.10 + 1.5 * shared + rng.normal(0, 0.02, len(QUERIES)), 0.01, 0.99)]
    row = _two_frame_pooled_row(tmp_path, capsys, unmon, trains)
    (g1, se1), (g2, se2) = (_frame_gap(train, unmon) for train in trains)
    a, b = se1 ** 2, se2 ** 2
    c = float(np.cov(trains[0] - unmon, trains[1] - unmon)[0, 1] / len(QUERIES))
    assert c > 0.5 * math.sqrt(a * b)  # strongly correlated frames
    q, expected = (g1 - g2) ** 2 / (a + b), (a + b - 2 * c) / (a + b)
    assert row["q"] == pytest.approx(q, rel=1e-9) and q < expected and row["tau2"] == 0
    assert row["q_p_value"] == pytest.approx(stats.chi2.sf(q / expected, 1), rel=1e-9)
    assert row["estimate"] == pytest.approx((g1 / a + g2 / b) / (1 / a + 1 / b), rel=1e-9)
    model_variance = (a + b + 2 * c) * a * b / (a + b) ** 2
    spread = q * a * b / (a + b)  # Hartung-Knapp, two frames
    assert row["se"] == pytest.approx(math.sqrt(max(model_variance, spread)), rel=1e-9)
    assert row["se"] > math.sqrt(a * b / (a + b))  # wider than pooling them as independent
    assert "covariance of shared queries" in row["method"]


def test_no_pooling_with_one_frame_per_model_and_variant(tmp_path, capsys, scores):
    train, unmon = scores
    one = _write_score_run(tmp_path / "one", train, unmon)
    code, out, err = run_cli(capsys, "report", str(one), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["choice_pooled"] == []
    other = _write_score_run(tmp_path / "other", train, unmon, frame="forum", variant={"lab": "OtherLab"})
    _, md, _ = run_cli(capsys, "report", str(one), str(other), "--format", "md", "--boot", "200", "--perm", "200")
    assert "## Forced choice gap" in md and "pooled across frames" not in md
    # a second run of the same frame is not a second frame
    again = _write_score_run(tmp_path / "again", train * 0.9, unmon)
    code, out, err = run_cli(capsys, "report", str(one), str(again), "--format", "json", "--boot", "200", "--perm", "200")
    report = json.loads(out)
    assert code == 0 and report["choice_pooled"] == [] and any("not pooled across frames" in n for n in report["notes"])


def _plotted_figures(monkeypatch) -> dict[str, object]:
    """Keep every figure the plots save, by file name, so its labels can be read back."""
    from basepersona import plots

    figures, save = {}, plots._save

    def keep(fig, plt, path):
        figures[Path(path).name] = fig
        return save(fig, plt, path)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def _assert_png(path: Path) -> None:
    from PIL import Image

    assert path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        low, high = image.convert("L").getextrema()
        assert image.size[0] > 300 and low < 100 and high > 200  # drawn on, not a blank canvas


def test_report_plot_of_a_scores_only_run_draws_p_accept_and_the_pooled_forest(tmp_path, capsys, scores, monkeypatch):
    train, unmon = scores
    runs = [str(_write_score_run(tmp_path / frame, train + shift, unmon, frame=frame))
            for frame, shift in (("chatlog", 0.0), ("forum", -0.05))]
    figures = _plotted_figures(monkeypatch)
    code, _, err = run_cli(capsys, "report", *runs, "--format", "json", "--plot", str(tmp_path / "out" / "p.png"),
                           "--boot", "200", "--perm", "200")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p-forest.png", "p.png"]
    for name in ("p.png", "p-forest.png"):
        _assert_png(tmp_path / "out" / name)
    (means_ax,) = figures["p.png"].axes
    assert {t.get_text() for t in means_ax.get_yticklabels()} == {
        "llama-base (base) chatlog (12 queries)", "llama-base (base) forum (12 queries)"}
    assert [t.get_text() for t in figures["p.png"].legends[0].get_texts()] == ["training", "unmonitored"]
    (forest_ax,) = figures["p-forest.png"].axes
    labels = [t.get_text() for t in forest_ax.get_yticklabels()]
    assert labels[-1].startswith("pooled: llama-base (τ²=") and len(labels) == 3


def test_report_plot_of_judged_runs_with_scores_adds_the_p_accept_plots(tmp_path, capsys, scores):
    run = write_run(tmp_path / "both", rates={"training": 0.4, "unmonitored": 0.2}, n=3, query_ids=QUERIES,
                    model="llama-base")
    _write_score_run(tmp_path / "scores-tmp", *scores)
    (run / "choices.jsonl").write_bytes((tmp_path / "scores-tmp" / "choices.jsonl").read_bytes())
    code, _, err = run_cli(capsys, "report", str(run), "--format", "md", "--plot", str(tmp_path / "out" / "r.png"))
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["r-choices-forest.png", "r-choices.png", "r-forest.png", "r.png"]
    for name in names:
        _assert_png(tmp_path / "out" / name)


def test_score_runs_with_different_query_sets_are_reported_on_the_shared_queries(tmp_path, capsys, scores):
    # as with sampled runs: otherwise two frames' means, gaps and pooled gap would rest on different queries
    train, unmon = scores
    full = _write_score_run(tmp_path / "full", train, unmon)
    part = _write_score_run(tmp_path / "part", train[:8] * 0.9, unmon[:8], frame="forum")
    code, out, err = run_cli(capsys, "report", str(full), str(part), "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert any(f"compared on the 8 shared queries (dropped 4 from {full})" in note for note in report["notes"])
    means = {(row["run"], row["condition"]): row for row in report["choices"]}
    assert means[str(full), "training"]["n_queries"] == 8
    assert means[str(full), "training"]["estimate"] == pytest.approx(train[:8].mean(), abs=1e-12)
    gaps = {row["run"]: row for row in report["choice_gaps"]}
    assert gaps[str(full)]["estimate"] == pytest.approx((train[:8] - unmon[:8]).mean(), abs=1e-12)


def test_score_runs_without_a_shared_query_stop_with_a_clear_error(tmp_path, capsys, scores):
    train, unmon = scores
    first = _write_score_run(tmp_path / "first", train[:4], unmon[:4])
    second = _write_score_run(tmp_path / "second", train, unmon)
    lines = (second / "choices.jsonl").read_text().replace('"q00', '"r00')  # q000-q009 renamed, q010-q011 kept
    (second / "choices.jsonl").write_text(lines.replace('"q01', '"r01'))
    code, _, err = run_cli(capsys, "report", str(first), str(second))
    assert code != 0 and "share no query" in err and "Traceback" not in err

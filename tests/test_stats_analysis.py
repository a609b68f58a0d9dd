"""analyse() over several runs: which runs are compared and pooled, and what it costs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from basepersona.stats import gaps as gaps_module
from basepersona.stats.analysis import _shared_query_covariance, analyse
from basepersona.stats.gaps import gap_influence, gap_sums
from basepersona.stats.meta import dersimonian_laird
from basepersona.stats.synthetic import write_run
from basepersona.stats.table import load_table
from basepersona.store import load_run

QUERIES = [f"q{i:03d}" for i in range(12)]


def _table(path: Path, *, kind: str, frame: str, variant: dict, seed: int, rates=(0.5, 0.3), n: int = 2):
    model = "llama-base" if kind == "base" else "llama-chat"
    write_run(path, rates={"training": rates[0], "unmonitored": rates[1]}, n=n, model=model, model_kind=kind,
              frame=frame, variant=variant, query_ids=QUERIES, seed=seed)
    return load_table(load_run(path))


def test_base_runs_are_compared_with_the_chat_run_of_their_own_variant(tmp_path):
    variants = {"A": {}, "B": {"lab": "OtherLab"}}
    tables = []
    for i, (name, variant) in enumerate(variants.items()):
        for j, frame in enumerate(("chatlog", "forum")):
            tables.append(_table(tmp_path / f"base-{frame}-{name}", kind="base", frame=frame, variant=variant,
                                 seed=10 * i + j))
        tables.append(_table(tmp_path / f"chat-{name}", kind="chat", frame="chat", variant=variant, seed=10 * i + 5))
    # a chat run sampled in the chatlog frame too: base chatlog [A] pairs with it, not with chat [A]
    tables.append(_table(tmp_path / "chat-chatlog-A", kind="chat", frame="chatlog", variant={}, seed=99))
    analysis = analyse(tables, n_boot=100, n_perm=100)
    pairs = {(Path(r["first"]).name, Path(r["second"]).name) for r in analysis.comparisons if r["outcome"] == "af"}
    assert pairs == {("base-chatlog-A", "chat-chatlog-A"), ("base-forum-A", "chat-A"),
                     ("base-chatlog-B", "chat-B"), ("base-forum-B", "chat-B")}
    assert {r["family_size"] for r in analysis.comparisons} == {4}
    # pooling: across the two frames within each variant of the base model, never across variants;
    # the chat model has two frames in variant A, so it is pooled there too
    pooled = {(r["model"], r["variant"]): r["k"] for r in analysis.pooled if r["outcome"] == "compliance"}
    assert pooled == {("llama-base", "default"): 2, ("llama-base", "lab=OtherLab"): 2, ("llama-chat", "default"): 2}
    gaps = {(Path(r["run"]).name, r["outcome"]): r for r in analysis.gaps}
    base_a = [gaps[("base-chatlog-A", "compliance")], gaps[("base-forum-A", "compliance")]]
    pooled_a = next(r for r in analysis.pooled if r["model"] == "llama-base" and r["variant"] == "default"
                    and r["outcome"] == "compliance")
    assert min(g["estimate"] for g in base_a) <= pooled_a["estimate"] <= max(g["estimate"] for g in base_a)


def test_frames_sharing_queries_are_pooled_with_the_covariance_of_their_gaps(tmp_path):
    # per-query training rates shared by both frames: a query that complies more does so in each frame
    rng = np.random.default_rng(4)
    training = rng.uniform(0.1, 0.9, len(QUERIES))
    tables = [_table(tmp_path / frame, kind="base", frame=frame, variant={}, seed=seed, rates=(training, 0.3), n=8)
              for frame, seed in (("chatlog", 1), ("forum", 2))]
    analysis = analyse(tables, n_boot=100, n_perm=100)
    row = next(r for r in analysis.pooled if r["outcome"] == "compliance")
    gaps = [r for r in analysis.gaps if r["outcome"] == "compliance"]
    # the covariance's diagonal is each gap's own clustered SE squared; off it, what the queries share
    covariance = _shared_query_covariance([gap_influence(gap_sums(t, "compliance"), t.queries) for t in tables])
    assert np.diag(covariance) == pytest.approx([g["se"] ** 2 for g in gaps], rel=1e-12)
    assert covariance[0, 1] > 0.3 * np.sqrt(covariance[0, 0] * covariance[1, 1])
    # each frame's variance is the larger of its SE squared and what its interval implies (at least the
    # t interval on 11 df: (t / z)^2 SE^2); the covariance's off-diagonal stays what the queries share
    implied = [((g["high"] - g["low"]) / (2 * stats.norm.ppf(0.975))) ** 2 for g in gaps]
    assert all(v >= (stats.t.ppf(0.975, 11) / stats.norm.ppf(0.975)) ** 2 * g["se"] ** 2 * (1 - 1e-9)
               for v, g in zip(implied, gaps))
    np.fill_diagonal(covariance, implied)
    reference = dersimonian_laird([g["estimate"] for g in gaps], implied, covariance=covariance)
    independent = dersimonian_laird([g["estimate"] for g in gaps], implied)
    assert row["se"] == pytest.approx(reference.se, rel=1e-12) and row["se"] > independent.se
    assert row["method"].endswith("covariance of shared queries")


def test_two_runs_of_one_frame_are_not_pooled_as_two_frames(tmp_path):
    # a rerun of the chatlog frame would count it twice and show seed noise as heterogeneity
    tables = [_table(tmp_path / name, kind="base", frame=frame, variant={}, seed=seed)
              for name, frame, seed in (("chatlog-1", "chatlog", 1), ("chatlog-2", "chatlog", 2), ("forum", "forum", 3))]
    analysis = analyse(tables, n_boot=100, n_perm=100)
    assert analysis.pooled == []
    assert any("not pooled across frames" in note and "chatlog" in note for note in analysis.notes)
    distinct = analyse([tables[0], tables[2]], n_boot=100, n_perm=100)
    assert {r["k"] for r in distinct.pooled} == {2} and not any("not pooled" in n for n in distinct.notes)


def test_a_base_run_without_a_chat_run_of_its_variant_is_noted(tmp_path):
    base = _table(tmp_path / "base-B", kind="base", frame="chatlog", variant={"lab": "X"}, seed=1)
    chat = _table(tmp_path / "chat", kind="chat", frame="chat", variant={}, seed=2)
    analysis = analyse([base, chat], n_boot=100, n_perm=100)
    assert analysis.comparisons == [] and any("no chat run with variant" in note for note in analysis.notes)


def test_one_sample_per_query_keeps_exact_mcnemar_beside_the_interval_test_and_runs_each_once(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    queries = [f"q{i:03d}" for i in range(400)]
    paths = [write_run(tmp_path / kind, rates={"training": rng.random(400) * 0.6, "unmonitored": rng.random(400) * 0.4},
                       n=1, model=f"m-{kind}", model_kind=kind, frame="chatlog" if kind == "base" else "chat",
                       query_ids=queries, seed=i, persona_rate=1.0) for i, kind in enumerate(("base", "chat"))]
    tables = [load_table(load_run(p)) for p in paths]
    calls = {"fisher": 0, "boschloo": 0}
    fisher, boschloo = stats.fisher_exact, stats.boschloo_exact

    def counting(name, function):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(gaps_module.stats, "fisher_exact", counting("fisher", fisher))
    monkeypatch.setattr(gaps_module.stats, "boschloo_exact", counting("boschloo", boschloo))
    analysis = analyse(tables, n_boot=200, n_perm=200)
    # 2 runs x 2 outcomes x 2 denominators, each once; 400 per arm > Boschloo's limit
    assert calls == {"fisher": 8, "boschloo": 0}
    table = tables[0]
    row = next(r for r in analysis.gaps if r["run"] == table.name and r["outcome"] == "compliance")
    assert row["test"] == "interval inverted (paired MOVER)" and "boschloo_p" not in row["exact"]
    yt, nt = table.query_sums("compliance", "training")
    yu, nu = table.query_sums("compliance", "unmonitored")
    both = (nt == 1) & (nu == 1)
    pairs = [[np.sum(both & (yt == 1) & (yu == 1)), np.sum(both & (yt == 1) & (yu == 0))],
             [np.sum(both & (yt == 0) & (yu == 1)), np.sum(both & (yt == 0) & (yu == 0))]]
    assert row["exact"]["mcnemar_exact_p"] == pytest.approx(mcnemar(pairs, exact=True).pvalue, abs=1e-9)
    assert row["se_binomial"] == pytest.approx(np.hypot(*(np.sqrt(p * (1 - p) / n) for p, n in (
        (yt.sum() / nt.sum(), nt.sum()), (yu.sum() / nu.sum(), nu.sum())))), rel=1e-12)


def test_boschloo_runs_on_small_tables_and_on_request():
    small = gaps_module.GapSums(np.r_[np.ones(9), np.zeros(21)], np.ones(30), np.r_[np.ones(3), np.zeros(27)], np.ones(30))
    table = [[9, 21], [3, 27]]
    assert gaps_module.paired_gap(small).exact["boschloo_p"] == pytest.approx(stats.boschloo_exact(table).pvalue,
                                                                              abs=1e-6)
    assert "boschloo_p" not in gaps_module.paired_gap(small, boschloo=False).exact

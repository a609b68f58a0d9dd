"""Paired compliance gap and base-vs-chat difference in gaps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from basepersona.stats.did import difference_in_differences
from basepersona.stats.gaps import GapSums, paired_gap
from basepersona.stats.synthetic import query_rates


def _paired_sums(rng, n_queries, m, p_train, p_unmon, icc=0.2, shared=0.0) -> GapSums:
    """Per-query sums; `shared` mixes one query effect into both conditions (positive pairing)."""
    own_t, own_u = query_rates(rng, n_queries, p_train, icc), query_rates(rng, n_queries, p_unmon, icc)
    common = query_rates(rng, n_queries, 0.5, icc) - 0.5
    rate_t = np.clip(own_t + shared * common, 0, 1)
    rate_u = np.clip(own_u + shared * common, 0, 1)
    m_t = np.broadcast_to(m, n_queries).astype(int)
    return GapSums(rng.binomial(m_t, rate_t).astype(float), m_t.astype(float),
                   rng.binomial(m_t, rate_u).astype(float), m_t.astype(float))


@pytest.mark.parametrize("table", [(0, 20, 0, 20), (20, 20, 20, 20), (0, 20, 20, 20), (3, 20, 11, 20), (7, 9, 2, 9)])
def test_exact_tests_with_one_sample_per_query_match_scipy_and_statsmodels(table):
    k_t, n, k_u, _ = table
    rng = np.random.default_rng(sum(table))
    yt, yu = np.zeros(n), np.zeros(n)
    yt[rng.permutation(n)[:k_t]] = 1
    yu[rng.permutation(n)[:k_u]] = 1
    gap = paired_gap(GapSums(yt, np.ones(n), yu, np.ones(n)))
    two_by_two = np.array([[k_t, n - k_t], [k_u, n - k_u]])
    assert gap.exact["fisher_p"] == pytest.approx(stats.fisher_exact(two_by_two).pvalue, abs=1e-6)
    if (two_by_two.sum(axis=0) > 0).all():
        assert gap.exact["boschloo_p"] == pytest.approx(stats.boschloo_exact(two_by_two).pvalue, abs=1e-6)
    else:
        assert gap.exact["boschloo_p"] == 1.0  # an empty column: both rates are identical
    pairs = np.array([[np.sum((yt == 1) & (yu == 1)), np.sum((yt == 1) & (yu == 0))],
                      [np.sum((yt == 0) & (yu == 1)), np.sum((yt == 0) & (yu == 0))]])
    assert gap.exact["mcnemar_exact_p"] == pytest.approx(mcnemar(pairs, exact=True).pvalue, abs=1e-6)


def test_no_exact_tests_when_queries_have_several_samples():
    assert paired_gap(_paired_sums(np.random.default_rng(0), 10, 3, 0.5, 0.5)).exact == {}


def test_degenerate_designs_are_explained():
    ones, zeros = np.ones(5), np.zeros(5)
    same = paired_gap(GapSums(zeros, ones * 4, zeros, ones * 4))
    assert same.estimate == 0 and same.p_value == 1 and "all labels equal" in same.note
    assert same.low < 0 < same.high  # not the zero-width [0, 0] of a Wald interval
    shift = paired_gap(GapSums(ones * 4, ones * 4, zeros, ones * 4))
    assert shift.estimate == 1 and shift.p_value < 0.05 and "same amount" in shift.note
    assert 0 < shift.low < shift.high == 1
    one = paired_gap(GapSums(np.array([2.0]), np.array([4.0]), np.array([1.0]), np.array([4.0])))
    assert one.estimate == 0.25 and np.isnan(one.p_value) and "too few queries" in one.note
    empty = paired_gap(GapSums(ones, ones, zeros, zeros))
    assert np.isnan(empty.estimate) and "not estimable" in empty.note and "unmonitored" in empty.note


def test_papers_binomial_option_matches_their_formula():
    sums = GapSums(np.array([57.0]), np.array([400.0]), np.array([11.0]), np.array([400.0]))
    gap = paired_gap(sums, method="binomial_se")
    assert gap.se == pytest.approx(np.hypot(np.sqrt(0.1425 * 0.8575 / 400), np.sqrt(0.0275 * 0.9725 / 400)))


def test_difference_in_differences_estimate_and_exact_permutation_p():
    rng = np.random.default_rng(3)
    base, chat = _paired_sums(rng, 8, 5, 0.5, 0.2), _paired_sums(rng, 8, 5, 0.3, 0.25)
    result = difference_in_differences(base, chat, n_boot=500)
    gap = lambda s: s.yt.sum() / s.nt.sum() - s.yu.sum() / s.nu.sum()  # noqa: E731
    assert result.estimate == pytest.approx(gap(base) - gap(chat))
    # brute force over all 2^8 sign patterns of each query's (equal-weight) difference of gaps
    per_query = (base.yt - base.yu - chat.yt + chat.yu) / 5
    observed = abs(per_query.sum())
    flips = [abs(np.dot(signs, per_query)) >= observed - 1e-12 for signs in itertools.product([-1, 1], repeat=8)]
    assert result.p_value == pytest.approx(np.mean(flips)) and result.n_perm == 256
    assert result.low <= result.estimate <= result.high


def test_difference_in_differences_bootstrap_coverage_and_null_rejection_rate():
    rng = np.random.default_rng(8)
    reps, covered, rejected = 800, 0, 0
    for rep in range(reps):
        base, chat = _paired_sums(rng, 60, 3, 0.4, 0.3, icc=0.2), _paired_sums(rng, 60, 3, 0.3, 0.2, icc=0.2)
        result = difference_in_differences(base, chat, n_boot=300, n_perm=200, seed=rep)
        covered += result.low <= 0 <= result.high  # both gaps are 0.1: the true difference is 0
        rejected += result.p_value < 0.05
    assert 0.93 <= covered / reps <= 0.97
    assert rejected / reps <= 0.075


def test_difference_in_differences_with_one_query_or_an_empty_condition():
    one = GapSums(np.array([2.0]), np.array([4.0]), np.array([1.0]), np.array([4.0]))
    assert "one query" in difference_in_differences(one, one).note
    empty = GapSums(np.ones(3), np.ones(3), np.zeros(3), np.zeros(3))
    assert np.isnan(difference_in_differences(empty, empty).estimate)


def test_difference_in_differences_of_a_run_with_itself_is_a_note_not_evidence():
    rng = np.random.default_rng(2)
    sums = _paired_sums(rng, 20, 3, 0.4, 0.2)
    for second in (sums, GapSums(*(x.copy() for x in sums))):
        result = difference_in_differences(sums, second)
        assert result.estimate == 0 and "0 by construction" in result.note
        assert np.isnan(result.low) and np.isnan(result.high) and np.isnan(result.p_value)
    # another run that differs in one query is compared as usual, with a real interval
    other = GapSums(sums.yt.copy(), sums.nt, sums.yu, sums.nu)
    other.yt[0] = 3 - other.yt[0]  # m = 3: a count of 0-3 always changes
    changed = difference_in_differences(sums, other)
    assert changed.low < changed.estimate < changed.high and "same samples" not in changed.note


@pytest.mark.parametrize("seed", range(4))
def test_gap_se_with_unequal_samples_equals_statsmodels_clustered_ols(seed):
    """OLS of the outcome on a training dummy, cluster-robust by query, unequal samples per query and condition.

    statsmodels' default correction is G/(G-1) x (N-1)/(N-K); the gap's SE uses G/(G-1) only (the
    paired t over queries), so it equals statsmodels without its correction times sqrt(G/(G-1)).
    """
    from statsmodels.api import OLS

    rng = np.random.default_rng(seed)
    n_queries = int(rng.integers(6, 40))
    nt, nu = rng.integers(1, 9, n_queries), rng.integers(0, 7, n_queries)
    rates = rng.beta(2, 3, n_queries)
    groups = np.r_[np.repeat(np.arange(n_queries), nt), np.repeat(np.arange(n_queries), nu)]
    training = np.r_[np.ones(nt.sum()), np.zeros(nu.sum())]
    y = (rng.random(groups.size) < np.clip(rates[groups] + 0.1 * training, 0, 1)).astype(float)
    sums = GapSums(np.bincount(groups[training == 1], y[training == 1], n_queries), nt.astype(float),
                   np.bincount(groups[training == 0], y[training == 0], n_queries), nu.astype(float))
    fit = OLS(y, np.c_[np.ones_like(y), training]).fit(cov_type="cluster",
                                                      cov_kwds={"groups": groups, "use_correction": False})
    gap = paired_gap(sums)
    assert gap.estimate == pytest.approx(fit.params[1], abs=1e-12)
    assert gap.se == pytest.approx(fit.bse[1] * np.sqrt(n_queries / (n_queries - 1)), rel=1e-9)

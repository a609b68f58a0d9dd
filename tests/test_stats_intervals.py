"""Rate intervals: agreement with statsmodels, coverage by simulation, the papers' error bars."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.api import OLS
from statsmodels.stats.proportion import proportion_confint

from basepersona.stats.intervals import binomial_se, cluster_robust_se_of_ratio, proportion, wilson_interval
from basepersona.stats.synthetic import query_rates

TABLES = [(0, 1), (1, 1), (0, 20), (20, 20), (1, 20), (7, 13), (50, 400), (343, 400), (399, 400), (0, 400)]


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_statsmodels_including_zero_and_all(confidence):
    k, n = np.array(TABLES).T
    low, high = wilson_interval(k, n, confidence)
    ref_low, ref_high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    np.testing.assert_allclose(low, ref_low, atol=1e-9)
    np.testing.assert_allclose(high, ref_high, atol=1e-9)


def test_wilson_of_an_empty_cell_is_nan_not_an_error():
    low, high = wilson_interval([0], [0])
    assert np.isnan(low[0]) and np.isnan(high[0])


@pytest.mark.parametrize("seed", range(4))
def test_clustered_se_matches_statsmodels_cluster_robust_regression(seed):
    rng = np.random.default_rng(seed)
    n_queries = int(rng.integers(5, 40))
    counts = rng.integers(1, 9, n_queries)  # unequal samples per query
    groups = np.repeat(np.arange(n_queries), counts)
    y = (rng.random(groups.size) < query_rates(rng, n_queries, 0.3, 0.3)[groups]).astype(float)
    fit = OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    successes = np.bincount(groups, weights=y)
    assert cluster_robust_se_of_ratio(successes, counts.astype(float)) == pytest.approx(fit.bse[0], rel=1e-6)


def test_auto_picks_wilson_for_one_sample_per_query_and_clustered_otherwise():
    single = proportion(np.array([1, 0, 1, 0.0]), np.ones(4))
    several = proportion(np.array([2, 0, 3, 1.0]), np.full(4, 3.0))
    assert single.method == "wilson" and several.method == "clustered"
    ref_low, ref_high = proportion_confint(2, 4, method="wilson")
    assert (single.low, single.high) == pytest.approx((ref_low, ref_high), abs=1e-9)


def test_clustered_interval_widens_with_the_design_effect():
    # identical totals: spread evenly over queries vs. all-or-nothing per query
    even = proportion(np.full(20, 2.0), np.full(20, 4.0))
    clumped = proportion(np.r_[np.full(10, 4.0), np.zeros(10)], np.full(20, 4.0))
    assert even.estimate == clumped.estimate == 0.5
    assert clumped.design_effect > 3 and clumped.high - clumped.low > even.high - even.low


def test_degenerate_cells_give_notes_not_crashes():
    empty = proportion(np.zeros(3), np.zeros(3))
    assert np.isnan(empty.estimate) and "no samples" in empty.note
    one_query = proportion(np.array([2.0]), np.array([5.0]), method="clustered")
    assert one_query.estimate == 0.4 and np.isnan(one_query.low) and "one query" in one_query.note
    identical = proportion(np.zeros(10), np.full(10, 4.0))
    assert identical.estimate == 0 and identical.low == 0 and "identical" in identical.note
    # on the 10 queries, not the 40 samples: Wilson's upper bound for 0 of 10 at the t_9-matched level
    level = 2 * stats.norm.cdf(stats.t.ppf(0.975, 9)) - 1
    assert identical.high == pytest.approx(proportion_confint(0, 10, alpha=1 - level, method="wilson")[1], abs=1e-12)


def test_papers_binomial_error_bars_reproduce():
    """Paper 1: refusals 85.8 +- 1.9 % (training) vs 97.2 +- 0.9 % (unmonitored), gap 11.3 +- 2.1."""
    se_train, se_unmon = binomial_se([0.858, 0.972], 400) * 100
    se_gap = np.hypot(se_train, se_unmon)
    # at n = 400 the binomial 1 sigma is 1.75 / 0.82 and the gap's 1.93, all smaller than printed
    assert (round(se_train, 2), round(se_unmon, 2), round(se_gap, 2)) == (1.75, 0.82, 1.93)
    # The printed 1.9 / 0.9 / 2.1 are what the same formula gives at n of about 337 per condition
    # (sqrt(0.858 * 0.142 / 337) = 1.90 %, sqrt(0.972 * 0.028 / 337) = 0.90 %, in quadrature 2.10 %):
    # consistent with errors over the samples actually scored (some dropped), not with n = 400.
    n = 337
    se_train, se_unmon = binomial_se([0.858, 0.972], n) * 100
    assert (round(se_train, 1), round(se_unmon, 1), round(np.hypot(se_train, se_unmon), 1)) == (1.9, 0.9, 2.1)
    assert all(round(float(binomial_se(0.858, k)) * 100, 1) != 1.9 for k in (300, 380, 400))
    papers = proportion(np.full(400, 1.0)[:343].tolist() + [0.0] * 57, np.ones(400), method="binomial_se")
    assert papers.se * 100 == pytest.approx(float(binomial_se(343 / 400, 400)) * 100, rel=1e-12)


def _coverage(successes: np.ndarray, counts: np.ndarray, truth: float, method: str) -> float:
    hits = 0
    for y, n in zip(successes, counts):
        rate = proportion(y, n, method=method)
        hits += rate.low <= truth <= rate.high
    return hits / len(successes)


@pytest.mark.parametrize("truth", [0.1, 0.5])
def test_wilson_coverage_with_independent_samples(truth):
    rng = np.random.default_rng(11)
    k = rng.binomial(150, truth, 20000)
    low, high = wilson_interval(k, 150)
    assert 0.93 <= np.mean((low <= truth) & (truth <= high)) <= 0.97


@pytest.mark.parametrize("truth,icc", [(0.3, 0.2), (0.15, 0.4)])
def test_clustered_coverage_with_correlated_samples_of_a_query(truth, icc):
    rng = np.random.default_rng(12)
    reps, n_queries, m = 1500, 80, 5
    rates = query_rates(rng, reps * n_queries, truth, icc).reshape(reps, n_queries)
    successes = rng.binomial(m, rates).astype(float)
    counts = np.full((reps, n_queries), float(m))
    coverage = _coverage(successes, counts, truth, "clustered")
    assert 0.93 <= coverage <= 0.97
    # treating the same samples as independent under-covers: the reason for clustering
    assert _coverage(successes, counts, truth, "wilson") < 0.92


@pytest.mark.parametrize("truth,n_queries,m", [(0.03, 20, 4)])
def test_clustered_coverage_at_small_rates_with_few_queries(truth, n_queries, m):
    rng = np.random.default_rng(21)
    reps = 3000
    rates = query_rates(rng, reps * n_queries, truth, 0.3).reshape(reps, n_queries)
    successes = rng.binomial(m, rates).astype(float)
    assert 0.93 <= _coverage(successes, np.full((reps, n_queries), float(m)), truth, "clustered") <= 0.97


@pytest.mark.xfail(strict=True, reason="known gap: with 10 queries the interval over-covers (~0.975-0.98), at "
                   "p = 0.05 x 20 x 4 just over (0.972), at p = 0.05, 20 queries x 10 samples it under-covers "
                   "(~0.90); a better small-G method is still needed")
@pytest.mark.parametrize("truth,n_queries,m", [(0.03, 10, 4), (0.05, 20, 4), (0.05, 20, 10)])
def test_clustered_coverage_known_gaps_at_small_rates(truth, n_queries, m):
    test_clustered_coverage_at_small_rates_with_few_queries(truth, n_queries, m)

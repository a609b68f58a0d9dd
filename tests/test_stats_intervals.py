"""Rate intervals: agreement with statsmodels, coverage by simulation, the papers' error bars."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.api import OLS
from statsmodels.stats.proportion import proportion_confint

from basepersona.stats.intervals import (binomial_se, cluster_robust_se_of_ratio, clustered_wilson, proportion,
                                         wilson_interval)
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


def _simulate(seed: int, truth: float, n_queries: int, m: int, icc: float, reps: int):
    rng = np.random.default_rng(seed)
    rates = query_rates(rng, reps * n_queries, truth, icc).reshape(reps, n_queries)
    return rng.binomial(m, rates).astype(float), np.full((reps, n_queries), float(m))


def _coverage(successes: np.ndarray, counts: np.ndarray, truth: float, method: str) -> float:
    """Share of simulated tables (rows) whose interval holds the truth; vectorised, same code as proportion()."""
    if method == "clustered":
        low, high, _, _ = clustered_wilson(successes, counts)
    else:
        low, high = wilson_interval(successes.sum(axis=1), counts.sum(axis=1))
    return float(np.mean((low <= truth) & (truth <= high)))


def test_vectorised_interval_is_the_one_proportion_reports():
    successes, counts = _simulate(5, 0.1, 12, 6, 0.2, 30)
    low, high, deff, _ = clustered_wilson(successes, counts)
    for row in range(30):
        rate = proportion(successes[row], counts[row])
        assert (rate.low, rate.high, rate.design_effect) == pytest.approx((low[row], high[row], deff[row]), abs=1e-12)


def test_degrees_of_freedom_grow_only_when_the_rarer_outcome_is_spread():
    # 10 queries x 10 samples, deff ~ 1 in both: successes in every query vs. one success in one query
    _, _, deff, df = clustered_wilson(np.full((1, 10), 5.0), np.full((1, 10), 10.0))
    assert deff[0] == 1 and df[0] == pytest.approx(9 + (100 - 10) * 1.0 ** 2)
    _, _, deff, df = clustered_wilson(np.r_[[1.0], np.zeros(9)][None, :], np.full((1, 10), 10.0))
    assert deff[0] == pytest.approx(1.0101, abs=1e-4) and df[0] == pytest.approx(9 + (100 / deff[0] - 10) * 0.1 ** 2)
    # all outcomes identical: t on G - 1 df, as before
    assert clustered_wilson(np.zeros((1, 10)), np.full((1, 10), 10.0))[3][0] == 9


@pytest.mark.parametrize("truth", [0.1, 0.5])
def test_wilson_coverage_with_independent_samples(truth):
    rng = np.random.default_rng(11)
    k = rng.binomial(150, truth, 20000)
    low, high = wilson_interval(k, 150)
    assert 0.93 <= np.mean((low <= truth) & (truth <= high)) <= 0.97


@pytest.mark.parametrize("truth,icc", [(0.3, 0.2), (0.15, 0.4)])
def test_clustered_coverage_with_correlated_samples_of_a_query(truth, icc):
    successes, counts = _simulate(12, truth, 80, 5, icc, 3000)
    assert 0.93 <= _coverage(successes, counts, truth, "clustered") <= 0.97
    # treating the same samples as independent under-covers: the reason for clustering
    assert _coverage(successes, counts, truth, "wilson") < 0.92


# Corners of the simulated grid p x queries x samples per query x ICC (docs/STATS.md has the full table,
# from the same seed and 20,000 tables per cell: Monte Carlo SE about 0.0015). (0.03, 10, 4, 0.3) was a
# known miss (0.975) of the previous interval, which used t on queries - 1 df throughout.
GRID_CORNERS = [(0.03, 10, 4, 0.3), (0.03, 20, 4, 0.3), (0.03, 80, 4, 0.1), (0.03, 80, 10, 0.0),
                (0.05, 80, 4, 0.1), (0.05, 80, 10, 0.3), (0.2, 10, 4, 0.1), (0.2, 10, 10, 0.0),
                (0.2, 20, 10, 0.3), (0.2, 80, 10, 0.3), (0.5, 10, 10, 0.0), (0.5, 10, 4, 0.3),
                (0.5, 10, 10, 0.3), (0.5, 20, 10, 0.1), (0.5, 80, 4, 0.3)]


@pytest.mark.parametrize("truth,n_queries,m,icc", GRID_CORNERS)
def test_clustered_coverage_over_the_grid(truth, n_queries, m, icc):
    successes, counts = _simulate(21, truth, n_queries, m, icc, 20000)
    assert 0.93 <= _coverage(successes, counts, truth, "clustered") <= 0.97


@pytest.mark.xfail(strict=True, reason="known misses at small rates: 0.905 at p = 0.05, 20 x 10, ICC 0.3 (one or "
                   "two queries hold every success, so the design effect looks like 1); 0.924 at p = 0.03, 80 x 10, "
                   "ICC 0.3; 0.928 at p = 0.2, 10 x 10, ICC 0.3; over-coverage 0.975-0.978 with 10-20 queries at "
                   "p = 0.05 (one or two successes in all: discreteness)")
@pytest.mark.parametrize("truth,n_queries,m,icc", [(0.05, 20, 10, 0.3), (0.03, 80, 10, 0.3), (0.2, 10, 10, 0.3),
                                                  (0.05, 10, 4, 0.1), (0.05, 20, 4, 0.0)])
def test_clustered_coverage_known_gaps(truth, n_queries, m, icc):
    test_clustered_coverage_over_the_grid(truth, n_queries, m, icc)

"""Rate intervals: agreement with statsmodels, coverage by simulation, the papers' error bars."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy
from packaging.version import Version
from scipy import optimize, sparse, special, stats
from statsmodels.api import OLS
from statsmodels.stats.proportion import proportion_confint

from basepersona.stats.intervals import (HIDDEN_CLUSTER_SAMPLES, binomial_se, cluster_robust_se_of_ratio,
                                         clustered_wilson, jeffreys_interval, proportion, wilson_interval,
                                         wilson_with_quantile)
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


def test_degrees_of_freedom_hedge_only_the_bound_toward_one_half():
    # 10 queries x 10 samples, 5 successes in each: no residuals, deff 1 (estimated 0), every query
    # shows both outcomes, so both bounds believe an estimate below 1 down to the floor: n / 0.7 draws
    low, high, deff, df = clustered_wilson(np.full((1, 10), 5.0), np.full((1, 10), 10.0))
    assert deff[0] == 1 and df[0] == pytest.approx([100 / 0.7 - 1] * 2)
    expected = wilson_with_quantile(50 / 0.7, 100 / 0.7, stats.t.ppf(0.975, df[0, 0]))
    assert (low[0], high[0]) == pytest.approx((float(expected[0]), float(expected[1])))
    # one success in one query: deff ~ 1, but the variance rests on that one query (Satterthwaite df
    # 2 * 0.9^2 / (10/9 * (0.72^2 + 9 * 0.08^2)) = 2.53), grown by the 1/10 share of queries showing it;
    # the far bound's design effect is at least 10 samples / 4 x the 9/10 of queries without a success
    successes = np.r_[[1.0], np.zeros(9)][None, :]
    low, high, deff, df = clustered_wilson(successes, np.full((1, 10), 10.0))
    satterthwaite = 2 * 0.81 / (10 / 9 * (0.72 ** 2 + 9 * 0.08 ** 2))
    assert deff[0] == pytest.approx(1.0101, abs=1e-4)
    hidden = 10 / HIDDEN_CLUSTER_SAMPLES * 0.9
    assert hidden == pytest.approx(2.25) and hidden > deff[0]
    grown = satterthwaite + (100 / hidden - 1 - satterthwaite) * 0.1 ** 2 / hidden
    assert df[0] == pytest.approx([100 / deff[0] - 1, grown])
    # so the high bound is Wilson's at 100 / 2.25 draws and t on 2.7 df: 0.220, against 0.054 for 100
    # independent draws (0.098 before the hidden design effect entered, with t on 3.5 df at deff 1.01)
    hedged = wilson_with_quantile(1 / hidden, 100 / hidden, stats.t.ppf(0.975, df[0, 1]))[1]
    assert high[0] == pytest.approx(float(hedged)) == pytest.approx(0.2202, abs=1e-4)
    assert high[0] > 4 * float(wilson_interval(1, 100)[1])
    # the near bound keeps the estimate: Wilson's at 100 / 1.0101 draws on 98 df
    near = wilson_with_quantile(1 / deff[0], 100 / deff[0], stats.t.ppf(0.975, 98))[0]
    assert low[0] == pytest.approx(float(near))
    # all outcomes identical: t on G - 1 df on both sides, as before
    assert clustered_wilson(np.zeros((1, 10)), np.full((1, 10), 10.0))[3][0] == pytest.approx([9, 9])


def test_swapping_the_outcomes_mirrors_the_interval_even_at_one_half():
    successes, counts = _simulate(4, 0.5, 10, 4, 0.1, 2000)
    assert np.sum(successes.sum(axis=1) == 20) > 100  # tables with an estimate of exactly 1/2
    low, high, _, _ = clustered_wilson(successes, counts)
    mirror_low, mirror_high, _, _ = clustered_wilson(counts - successes, counts)
    np.testing.assert_allclose(low, 1 - mirror_high, atol=1e-12)
    np.testing.assert_allclose(high, 1 - mirror_low, atol=1e-12)


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


# Cells of the simulated grid p x queries x samples per query x ICC (docs/STATS.md has the full table,
# from the same seed and 20,000 tables per cell: Monte Carlo SE about 0.0015). The last three of the
# list were misses of the previous rule (one t quantile for both bounds): 0.924, 0.977, 0.975.
GRID_CELLS = [(0.03, 10, 4, 0.3), (0.03, 20, 4, 0.3), (0.03, 80, 4, 0.1), (0.03, 80, 10, 0.0),
              (0.05, 80, 4, 0.1), (0.05, 80, 10, 0.3), (0.2, 10, 4, 0.1), (0.2, 10, 10, 0.0),
              (0.2, 20, 10, 0.3), (0.2, 80, 10, 0.3), (0.5, 10, 10, 0.0), (0.5, 10, 4, 0.3),
              (0.5, 10, 10, 0.3), (0.5, 20, 10, 0.1), (0.5, 80, 4, 0.3),
              (0.03, 80, 10, 0.3), (0.05, 10, 4, 0.1), (0.05, 20, 4, 0.0)]


@pytest.mark.parametrize("truth,n_queries,m,icc", GRID_CELLS)
def test_clustered_coverage_over_the_grid(truth, n_queries, m, icc, seed=21):
    successes, counts = _simulate(seed, truth, n_queries, m, icc, 20000)
    assert 0.93 <= _coverage(successes, counts, truth, "clustered") <= 0.97


@pytest.mark.parametrize("truth,n_queries,m,icc", [(0.02, 40, 8, 0.5)])
def test_clustered_coverage_off_the_tuning_grid(truth, n_queries, m, icc):
    """A cell of a grid the rule was not chosen on (another seed, ICC 0.5): the previous rule gave 0.879.
    (0.08, 15 x 8 there, 0.897 under that rule, went to 0.9721 with the hidden design effect: see
    test_clustered_coverage_known_over_coverage.)"""
    test_clustered_coverage_over_the_grid(truth, n_queries, m, icc, seed=31)


@pytest.mark.parametrize("truth,n_queries,m,icc", [(0.1, 20, 10, 0.5), (0.02, 50, 20, 0.6), (0.1, 20, 20, 0.8)])
def test_clustered_coverage_with_many_samples_of_strongly_clustered_queries(truth, n_queries, m, icc):
    """Many samples per query and a high ICC (benchmarks/gap_coverage.py --grid clustered / mixed), where
    tables with the rarer outcome in a query or two look independent: before the far bound's hidden design
    effect (m / 4 x the share of queries without the rarer outcome) 0.930, 0.891 and 0.931 (seed 21), now
    0.945, 0.966 and 0.955."""
    test_clustered_coverage_over_the_grid(truth, n_queries, m, icc)


@pytest.mark.parametrize("truth,n_queries,m,icc", [(0.1, 10, 10, 0.5), (0.1, 10, 20, 0.8)])
def test_clustered_coverage_with_ten_strongly_clustered_queries_is_no_longer_under(truth, n_queries, m, icc):
    """With 10 queries the tables that fooled the interval (one success in one query) carry 5-8 % of the
    mass on their own, so hedging them moves the coverage from under the band to just over it: 0.899 and
    0.926 before, 0.976 and 0.980 now (seed 21); the near bound misses the other 2-2.5 %."""
    successes, counts = _simulate(21, truth, n_queries, m, icc, 20000)
    assert 0.97 < _coverage(successes, counts, truth, "clustered") < 0.985


def test_clustered_coverage_formerly_under_is_now_just_over():
    """p = 0.05, 20 x 10, ICC 0.3: exactly 0.9296 under the previous rule (tables with 2-3 successes, one
    per query, still looked independent; the high bound missed 4.2 %); the far bound's hidden design effect
    takes it to 0.9711 exactly, over by 0.0011 (the high bound no longer misses; the low one misses 2.9 %)."""
    coverage, beyond = _exact_coverage(0.05, 20, 10, 0.3)
    assert beyond < 1e-6
    assert round(coverage, 4) == 0.9711


@pytest.mark.xfail(strict=True, reason="over-coverage: exactly 0.9701 at p = 0.05, 10 x 10, ICC 0.3, and 0.9711 at "
                   "20 x 10: the high bound, hedged for clustering that two or three successes in distinct "
                   "queries cannot show, never misses, and the low bound misses 2.9 %")
@pytest.mark.parametrize("truth,n_queries,m,icc", [(0.05, 10, 10, 0.3), (0.05, 20, 10, 0.3)])
def test_clustered_coverage_known_over_coverage(truth, n_queries, m, icc):
    coverage, beyond = _exact_coverage(truth, n_queries, m, icc)
    assert 0.93 <= coverage <= coverage + beyond <= 0.97


@pytest.mark.xfail(strict=True, reason="simulated over-coverage off the tuning grid, 0.9721 at p = 0.08, 15 x 8, "
                   "ICC 0.5 (seed 31; 0.940 before the hidden design effect): the low bound misses 2.8 %")
def test_clustered_coverage_known_over_coverage_off_the_grid():
    test_clustered_coverage_over_the_grid(0.08, 15, 8, 0.5, seed=31)


# The independent-sample column of the grid (m = 1: n = queries draws), exactly. An interval whose bounds
# rise with the count (Wilson, Clopper-Pearson, every usual one) holds p for a contiguous run of counts
# {a..b}, so its coverage at p is P(a <= K <= b); one that treats the outcomes symmetrically holds 1/2 for
# a run symmetric about n/2. Enumerating every run shows which cells no such interval brings into 93-97 %.
INDEPENDENT_CELLS = [(p, n) for p in (0.03, 0.05, 0.2, 0.5) for n in (10, 20, 80)]
# the attainable coverages nearest the band, below and above it, in the four cells that have none inside
UNATTAINABLE = {(0.03, 20): (0.8802, 0.9790), (0.05, 10): (0.9139, 0.9885), (0.05, 20): (0.9245, 0.9841),
                (0.5, 10): (0.8906, 0.9785)}


def _run_coverages(n: int, p: float, symmetric: bool) -> np.ndarray:
    """P(a <= K <= b), K ~ Binomial(n, p), for every run a <= b (only b = n - a when symmetric)."""
    cumulative = np.r_[0.0, np.cumsum(stats.binom.pmf(np.arange(n + 1), n, p))]
    a, b = np.triu_indices(n + 1)
    if symmetric:
        a, b = a[b == n - a], b[b == n - a]
    return cumulative[b + 1] - cumulative[a]


@pytest.mark.parametrize("p,n", INDEPENDENT_CELLS)
def test_which_independent_cells_no_interval_can_bring_into_the_band(p, n):
    coverages = _run_coverages(n, p, symmetric=p == 0.5)
    in_band = (coverages >= 0.93) & (coverages <= 0.97)
    assert in_band.any() == ((p, n) not in UNATTAINABLE)
    if (p, n) in UNATTAINABLE:
        below, above = coverages[coverages < 0.93].max(), coverages[coverages > 0.97].min()
        assert (round(below, 4), round(above, 4)) == UNATTAINABLE[(p, n)]
    # Wilson is such an interval, and its exact coverage is in the band wherever any run's is
    counts = np.arange(n + 1)
    low, high = wilson_interval(counts, n)
    accepted = np.flatnonzero((low <= p) & (p <= high))
    assert np.array_equal(accepted, np.arange(accepted[0], accepted[-1] + 1))
    wilson = stats.binom.pmf(accepted, n, p).sum()
    assert (0.93 <= wilson <= 0.97) == in_band.any()


def test_ten_draws_at_one_half_no_symmetric_interval_covers_93_to_97():
    symmetric = np.sort(_run_coverages(10, 0.5, symmetric=True))[::-1]
    # {0..10}, {1..9}, {2..8}, {3..7}, ...: 1, 1022/1024, 1002/1024, 912/1024, ...
    np.testing.assert_allclose(symmetric[:4], np.array([1024, 1022, 1002, 912]) / 1024, atol=1e-12)
    low, high = wilson_interval(np.arange(11), 10)
    assert stats.binom.pmf(np.arange(11), 10, 0.5)[(low <= 0.5) & (0.5 <= high)].sum() == pytest.approx(1002 / 1024,
                                                                                                         abs=1e-12)
    # only a lopsided run gets in, e.g. {3..9}: 1 - 57/1024 = 0.944, which no symmetric interval can have
    lopsided = _run_coverages(10, 0.5, symmetric=False)
    assert np.any((lopsided >= 0.93) & (lopsided <= 0.97))
    assert stats.binom.cdf(9, 10, 0.5) - stats.binom.cdf(2, 10, 0.5) == pytest.approx(1 - 57 / 1024, abs=1e-12)


# Exact coverage with several samples per query. Under exchangeable queries the sorted per-query counts
# (a "pattern") carry everything; a pattern's probability is multinomial over the per-query count
# distribution: beta-binomial(m, p c, (1 - p) c), c = 1/ICC - 1 (binomial at ICC 0), as _simulate draws.
def _per_query(p: float, icc: float, m: int) -> np.ndarray:
    if icc == 0:
        return stats.binom.pmf(np.arange(m + 1), m, p)
    c = 1 / icc - 1
    return stats.betabinom.pmf(np.arange(m + 1), m, p * c, (1 - p) * c)


def _patterns(n_queries: int, m: int, most: int) -> np.ndarray:
    """Every non-increasing vector of per-query counts (0..m) with at most `most` successes in all."""
    rows, last, total = np.zeros((1, 0)), np.array([m]), np.array([0])
    for _ in range(n_queries):
        grow = [(np.flatnonzero((v <= last) & (total + v <= most)), v) for v in range(m + 1)]
        index = np.concatenate([i for i, _ in grow])
        values = np.concatenate([np.full(i.size, v) for i, v in grow])
        rows, last, total = np.hstack([rows[index], values[:, None]]), values, total[index] + values
    return rows


def _exact_coverage(p: float, n_queries: int, m: int, icc: float, tail: float = 1e-6) -> tuple[float, float]:
    """clustered_wilson's coverage over every table with at most K successes, and the mass beyond K (< tail)."""
    f = _per_query(p, icc, m)
    totals = np.array([1.0])
    for _ in range(n_queries):
        totals = np.convolve(totals, f)
    most = int(np.argmax(1 - np.cumsum(totals) < tail))
    rows = _patterns(n_queries, m, most)
    multiplicity = np.stack([(rows == j).sum(axis=1) for j in range(m + 1)], axis=1)
    with np.errstate(divide="ignore"):
        log_f = np.log(f)
    log_p = (special.gammaln(n_queries + 1) - special.gammaln(multiplicity + 1).sum(axis=1)
             + np.where(multiplicity > 0, multiplicity * log_f, 0.0).sum(axis=1))
    probability = np.exp(log_p)
    low, high = clustered_wilson(rows, np.full_like(rows, m))[:2]
    return float(probability[(low <= p) & (p <= high)].sum()), float(1 - probability.sum())


@pytest.mark.parametrize("truth,n_queries,m,icc", [
    (0.2, 10, 10, 0.3),
    # over-covered (0.971-0.978) while the near bound's design effect was floored at 1
    (0.03, 10, 10, 0.0), (0.05, 10, 10, 0.0), (0.05, 20, 10, 0.0), (0.2, 10, 4, 0.0), (0.2, 10, 10, 0.0),
    # over-covered (0.9709) while the far bound's design effect was floored at 1 whatever the spread
    (0.5, 10, 4, 0.0), (0.5, 10, 4, 0.3),
    # moved up by the far bound's hidden design effect and still inside: 0.9587 -> 0.9664, 0.9437 -> 0.9692
    (0.05, 20, 10, 0.0), (0.05, 20, 10, 0.1)])
def test_exact_coverage_is_in_the_band(truth, n_queries, m, icc):
    """Exactly, over every table up to a total whose tail beyond has mass < 1e-6 (pattern enumeration).

    p = 0.2, 10 x 10, ICC 0.3: the two-quantile rule grew the far df by share^2 alone and had 0.9296 here
    (simulation: 0.928 at 20,000 tables): a real miss. Growing by share^2 / deff gives 0.9312 (seed 21's
    20,000 tables read 0.9293, 1.2 SE under the exact figure). The independent designs are the ones the
    near bound's floor at 1 over-covered (simulated 0.971-0.978; now exactly 0.953-0.967).
    """
    coverage, beyond = _exact_coverage(truth, n_queries, m, icc)
    assert beyond < 1e-6
    assert 0.93 <= coverage <= coverage + beyond <= 0.97


def _by_total_and_spread(p: float, icc: float, m: int, n_queries: int) -> np.ndarray:
    """P(total successes = t, queries with a success = r) as a (t, r) table, exactly (convolution over queries)."""
    f = _per_query(p, icc, m)
    table = np.zeros((n_queries * m + 1, n_queries + 1))
    table[0, 0] = 1
    for _ in range(n_queries):
        grown = table * f[0]
        for v in range(1, m + 1):
            grown[v:, 1:] += table[:-v, :-1] * f[v]
        table = grown
    return table


ICCS = (0.0, 0.1, 0.3)
# The grid's misses with 10 samples per query or 10 queries before the near bound's floor went below 1
# (ICC 0 over-coverage and the two under-coverage cells)
MISSED_DESIGNS = [(0.03, 10, 10), (0.05, 10, 10), (0.05, 20, 10), (0.2, 10, 10), (0.2, 10, 4), (0.5, 10, 4)]


@pytest.mark.parametrize("p,n_queries,m", MISSED_DESIGNS)
def test_some_rule_meets_the_band_at_every_icc(p, n_queries, m):
    """Identifiability does not force the misses: a rule exists with coverage in 93-97 % at ICC 0, 0.1, 0.3 at once.

    Coverage at p of any rule is sum over data patterns of P(pattern | p, ICC) * [p in its interval], so
    "some interval holds p with coverage in the band at every ICC" is a 0/1 feasibility problem over the
    patterns. Patterns with 1-3 successes in distinct queries do look alike at every ICC, but their mass is
    small against the band's width, and others (many queries with a success, or few with many) tell the
    ICCs apart. The solver finds a rule that uses only (total, queries with a success), coarser than the
    data, so a fortiori one on the full table; the rule is checked here, not taken from the solver.
    A rule on the total alone whose bounds rise with it holds p for a run of totals, and no run works.
    """
    tables = np.array([_by_total_and_spread(p, icc, m, n_queries).ravel() for icc in ICCS])
    assert np.allclose(tables.sum(axis=1), 1, atol=1e-12)  # every (total, spread): no tail left out
    found = optimize.milp(np.zeros(tables.shape[1]), integrality=np.ones(tables.shape[1]),
                          bounds=optimize.Bounds(0, 1), constraints=optimize.LinearConstraint(tables, 0.93, 0.97))
    rule = np.round(found.x)
    assert np.all((tables @ rule >= 0.93) & (tables @ rule <= 0.97))
    totals = tables.reshape(len(ICCS), n_queries * m + 1, n_queries + 1).sum(axis=2)
    cumulative = np.hstack([np.zeros((len(ICCS), 1)), np.cumsum(totals, axis=1)])
    a, b = np.triu_indices(totals.shape[1])
    runs = cumulative[:, b + 1] - cumulative[:, a]
    assert not np.any(np.all((runs >= 0.93) & (runs <= 0.97), axis=0))


@pytest.mark.skipif(Version(scipy.__version__) < Version("1.17"),
                    reason="the HiGHS of scipy < 1.17 does not finish this MILP in 10 minutes (1.17 takes seconds)")
def test_one_interval_rule_meets_the_band_at_every_icc_over_a_grid_of_rates():
    """10 queries x 10 samples, p = 0.01, 0.02, ..., 0.4 and ICC 0, 0.1, 0.3 at once (120 cells, 0.930-0.970 each).

    One rule on (total, queries with a success) that holds, for each (total, spread), a run of the grid's
    rates, i.e. an interval, and covers 93-97 % in every cell. So with 10 x 10 the grid's misses of
    clustered_wilson (0.03 and 0.05 at ICC 0, 0.2 at ICC 0.3) are the method's, not the data's.
    """
    rates = np.round(np.arange(1, 41) * 0.01, 2)
    tables = np.array([[_by_total_and_spread(p, icc, 10, 10).ravel() for icc in ICCS] for p in rates])
    cells, size = len(rates), tables.shape[2]
    # x[l, s]: rate l in the interval of statistic s (binary); y[l, s] >= x[l, s] - x[l-1, s], sum_l y <= 1
    eye, zero = sparse.identity(size, format="csr"), sparse.csr_matrix((size, size))
    coverage = sparse.block_diag([tables[rate] for rate in range(cells)], format="csr")
    starts = sparse.bmat([[(-eye if j == rate else eye if j == rate - 1 else zero) for j in range(cells)]
                          + [(eye if j == rate else zero) for j in range(cells)] for rate in range(cells)],
                         format="csr")
    one_run = sparse.hstack([sparse.csr_matrix((size, cells * size))] + [eye] * cells, format="csr")
    found = optimize.milp(np.zeros(2 * cells * size), integrality=np.r_[np.ones(cells * size), np.zeros(cells * size)],
                          bounds=optimize.Bounds(0, 1),
                          constraints=[optimize.LinearConstraint(sparse.hstack([coverage, 0 * coverage]), 0.93, 0.97),
                                       optimize.LinearConstraint(starts, 0, np.inf),
                                       optimize.LinearConstraint(one_run, 0, 1)],
                          options={"time_limit": 60})
    assert found.success, found.message
    rule = np.round(found.x[:cells * size]).reshape(cells, size)
    covered = np.einsum("lis,ls->li", tables, rule)
    assert np.all((covered >= 0.93) & (covered <= 0.97))
    runs = (np.diff(np.vstack([np.zeros(size), rule, np.zeros(size)]), axis=0) == 1).sum(axis=0)
    assert runs.max() <= 1  # each statistic's accepted rates are contiguous on the grid


@pytest.mark.parametrize("p,n_queries", [(0.01, 10), (0.01, 30), (0.03, 10)])
def test_two_samples_per_query_over_coverage_is_forced_where_the_issue_found_it(p, n_queries):
    """m = 2, ICC 0 (issue 14: 0.971-0.983 simulated). The total is Binomial(2G, p); no run of totals has
    coverage in 93-97 %, and clustered_wilson's exact coverage is that of the nearest run above the band:
    it over-covers exactly as much as any interval on the total must."""
    runs = _run_coverages(2 * n_queries, p, symmetric=False)
    assert not np.any((runs >= 0.93) & (runs <= 0.97))
    coverage, beyond = _exact_coverage(p, n_queries, 2, 0.0)
    assert beyond < 1e-6
    assert coverage == pytest.approx(runs[runs > 0.97].min(), abs=1e-6)


def test_jeffreys_interval_matches_statsmodels_with_fixed_ends_and_stays_quiet_deep_in_the_tail():
    counts = np.array([1, 3, 17, 29, 99])
    low, high = jeffreys_interval(counts, 100, 0.9)
    expected = np.array([proportion_confint(k, 100, alpha=0.1, method="jeffreys") for k in counts])
    np.testing.assert_allclose(np.c_[low, high], expected, atol=1e-12)
    ends = np.c_[jeffreys_interval(np.array([0.0, 7.0]), np.array([7.0, 7.0]))]
    assert ends[0, 0] == 0 and ends[1, 1] == 1 and 0 < ends[0, 1] < 1 and 0 < ends[1, 0] < 1
    assert np.isnan(jeffreys_interval(0.0, 0.0)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's beta quantile warned (and gave up) at tails of 1e-270
        low, high = jeffreys_interval(np.array([1.9, 0.0, 2.5]), np.array([4.6, 2.5, 2.5]), 1 - 1e-300)
    assert np.all((0 <= low) & (low <= high) & (high <= 1))


@pytest.mark.parametrize("truth,n_queries,m,icc", [(0.5, 3, 10, 0.5), (0.5, 5, 20, 0.2), (0.7, 5, 20, 0.05),
                                                  (0.2, 8, 20, 0.2)])
def test_clustered_coverage_with_fewer_than_ten_queries_is_not_under(truth, n_queries, m, icc):
    """With 3-8 queries the far bound's df is not grown (the design effect comes from a handful of
    residuals): these cells covered 0.88, 0.91, 0.91 and 0.92 with the growth (seed 7)."""
    successes, counts = _simulate(7, truth, n_queries, m, icc, 20000)
    assert 0.93 <= _coverage(successes, counts, truth, "clustered") <= 0.995

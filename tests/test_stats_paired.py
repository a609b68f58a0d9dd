"""The paired gap interval (MOVER): Newcombe's method 10 with Jeffreys ingredients at one sample per query, the possible range,
agreement with its test, and coverage for rare and common outcomes (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from basepersona.stats.gaps import GapSums, paired_gap
from basepersona.stats.paired import gap_bounds
from basepersona.stats.synthetic import query_rates


def _jeffreys(successes: int, n: int) -> tuple[float, float]:
    """statsmodels' Jeffreys interval with the usual ends: 0 below no success, 1 above all successes."""
    low, high = proportion_confint(successes, n, method="jeffreys")
    return (0.0 if successes == 0 else low), (1.0 if successes == n else high)


def _mover_jeffreys(a: int, b: int, c: int, d: int) -> tuple[float, float]:
    """Newcombe's (1998) method 10 for a paired 2x2 table (a: both 1, b: first only, c: second only, d:
    neither) with Jeffreys' intervals for the two proportions in place of Wilson's."""
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = _jeffreys(a + b, n)
    l2, u2 = _jeffreys(a + c, n)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / np.sqrt(margins) if margins else 0.0
    low = p1 - p2 - np.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = p1 - p2 + np.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return low, high


@pytest.mark.parametrize("table", [(3, 9, 2, 16), (0, 4, 1, 25), (10, 0, 0, 10), (0, 0, 0, 30), (5, 5, 5, 5),
                                   (0, 12, 0, 0), (1, 0, 7, 2)])
def test_one_sample_per_query_is_mover_with_jeffreys_joined_with_the_paired_t(table):
    a, b, c, d = table
    yt = np.r_[np.ones(a + b), np.zeros(c + d)]
    yu = np.r_[np.ones(a), np.zeros(b), np.ones(c), np.zeros(d)]
    ones = np.ones(yt.size)
    gap = paired_gap(GapSums(yt, ones, yu, ones))
    low, high = _mover_jeffreys(*table)
    if np.any(yt != yu) and np.std(yt - yu) > 0:
        t_interval = stats.ttest_rel(yt, yu).confidence_interval(0.95)
        low, high = max(-1, min(low, t_interval.low)), min(1, max(high, t_interval.high))
    assert (gap.low, gap.high) == pytest.approx((low, high), abs=1e-12)


def test_interval_never_leaves_the_possible_range():
    rng = np.random.default_rng(0)
    # the two-query table, with extreme others: every outcome, half, clustered in one query
    tables = [(np.array([4.0, 0]), np.array([4.0, 4]), np.array([0.0, 4]), np.array([4.0, 4]))]
    for _ in range(300):
        queries, m = int(rng.integers(2, 6)), int(rng.integers(1, 5))
        counts = rng.integers(0, m + 1, (2, queries)).astype(float)
        counts[:, 0] = np.maximum(counts[:, 0], 1)
        counts[:, 1] = np.maximum(counts[:, 1], 1)
        successes = rng.binomial(counts.astype(int), rng.choice([0.0, 0.02, 0.5, 0.98, 1.0], (2, queries)))
        tables.append((successes[0].astype(float), counts[0], successes[1].astype(float), counts[1]))
    for table in tables:
        gap = paired_gap(GapSums(*table), boschloo=False)
        if np.isfinite(gap.low):
            assert -1 <= gap.low <= gap.estimate <= gap.high <= 1
    # the table gave [-585, +685] points; now the whole range, and called uninformative
    two_queries = paired_gap(GapSums(*tables[0]))
    assert (two_queries.low, two_queries.high) == (-1, 1) and two_queries.uninformative
    assert "uninformative (too few queries)" in two_queries.note


def test_test_and_interval_agree_about_excluding_zero():
    rng = np.random.default_rng(4)
    disagreements = 0
    for _ in range(150):
        n = 30
        yt, yu = (rng.random(n) < 0.15).astype(float), (rng.random(n) < 0.05).astype(float)
        gap = paired_gap(GapSums(yt, np.ones(n), yu, np.ones(n)), boschloo=False)
        excludes = gap.low > 0 or gap.high < 0
        disagreements += excludes != (gap.p_value < 0.05)
        # the test inverts the interval: at level 1 - p a bound sits on 0
        if 1e-9 < gap.p_value < 1:
            low, high = (b[0] for b in gap_bounds(yt, np.ones(n), yu, np.ones(n), 1 - gap.p_value)[1:3])
            assert min(abs(low), abs(high)) == pytest.approx(0, abs=1e-7)
    assert disagreements == 0


def _paired_tables(rng, reps, queries, m, p_train, p_unmon, icc):
    rates_t = query_rates(rng, reps * queries, p_train, icc).reshape(reps, queries)
    rates_u = query_rates(rng, reps * queries, p_unmon, icc).reshape(reps, queries)
    counts = np.full((reps, queries), float(m))
    return rng.binomial(m, rates_t).astype(float), counts, rng.binomial(m, rates_u).astype(float), counts


@pytest.mark.parametrize("queries,m,p_train,p_unmon,icc,band", [
    # the rare cells (Wald: 0.815 and 0.711); the interval errs wide there, never narrow
    (10, 5, 0.03, 0.01, 0.1, (0.95, 1.0)),
    (30, 1, 0.03, 0.01, 0.0, (0.95, 1.0)),
    (30, 5, 0.15, 0.05, 0.1, (0.93, 0.975)),
    (30, 5, 0.4, 0.3, 0.3, (0.93, 0.97)),
    (30, 2, 0.4, 0.3, 0.1, (0.93, 0.97)),
])
def test_gap_interval_coverage(queries, m, p_train, p_unmon, icc, band):
    rng = np.random.default_rng(17)
    yt, nt, yu, nu = _paired_tables(rng, 3000, queries, m, p_train, p_unmon, icc)
    _, low, high, _ = gap_bounds(yt, nt, yu, nu)
    truth = p_train - p_unmon
    coverage = np.mean((low <= truth + 1e-12) & (truth - 1e-12 <= high))
    assert band[0] <= coverage <= band[1]
    assert np.all(high - low > 0)  # no zero-width interval, even for tables without a success


@pytest.mark.parametrize("p_train,p_unmon", [(0.03, 0.01), (0.05, 0.01), (0.01, 0.03), (0.03, 0.03)])
def test_rare_gap_cells_with_one_sample_per_query_now_inside_the_band(p_train, p_unmon):
    """100 queries x 1: Newcombe's Wilson-based MOVER covered 0.983, 0.975, 0.979 and 0.971 on these tables;
    with Jeffreys' intervals as its ingredients, inside 93-97 %."""
    rng = np.random.default_rng(17)
    yt, nt, yu, nu = _paired_tables(rng, 3000, 100, 1, p_train, p_unmon, 0.0)
    _, low, high, _ = gap_bounds(yt, nt, yu, nu)
    truth = p_train - p_unmon
    assert 0.93 <= np.mean((low <= truth + 1e-12) & (truth - 1e-12 <= high)) <= 0.97


def test_null_rejection_rate_of_the_inverted_test_is_at_most_alpha():
    rng = np.random.default_rng(5)
    rejected = 0
    reps = 300
    for _ in range(reps):
        yt, nt, yu, nu = (x[0] for x in _paired_tables(rng, 1, 30, 4, 0.2, 0.2, 0.1))
        rejected += paired_gap(GapSums(yt, nt, yu, nu)).p_value < 0.05
    assert rejected / reps <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / reps)


@pytest.mark.parametrize("queries,least", [(10, 0.995), (30, 0.975)])
def test_no_interval_meets_the_band_at_one_percent_with_one_sample_per_query(queries, least):
    """Proof program (stats/attainable.py): at 1 % vs 1 % with one sample per query, any interval that
    covers 93 % at the grid's other rare cells (3/5 % vs 1 %, 3/5 % vs 3 %, 5 % vs 5 %) covers at
    least `least` here, above 97 %: the band is unattainable in that cell, whatever the method."""
    from basepersona.stats.attainable import least_coverage

    others = [(0.03, 0.01), (0.05, 0.01), (0.03, 0.03), (0.05, 0.03), (0.05, 0.05)]
    assert least_coverage((0.01, 0.01), others, queries) >= least > 0.97
    # and the program is not vacuous: a cell with a real gap can go below the band
    assert least_coverage((0.05, 0.03), [(0.01, 0.01), (0.03, 0.03)], queries) < 0.93

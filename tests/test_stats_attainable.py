"""The proof programs of stats/attainable.py: relaxations bound the exact programs from below, a forced
cell is proven, a common-outcome cell is not, and the sufficiency of the totals at ICC 0 holds for the
shipped interval on enumerated tables."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import special, stats

from basepersona.stats.attainable import (Patterns, Program, gap_indices, least_coverage, least_coverage_symmetric,
                                          least_coverage_totals, least_target_coverage, paired_tables,
                                          query_counts, table_probabilities)
from basepersona.stats.paired import gap_bounds


def test_linear_relaxation_of_the_paired_program_is_below_its_0_1_optimum():
    others = [(0.03, 0.01), (0.05, 0.01), (0.03, 0.03), (0.05, 0.03), (0.05, 0.05)]
    target = (0.01, 0.01)
    tables = paired_tables(10, 10)
    gaps, count = gap_indices([target, *others])
    coverage = np.array([table_probabilities(tables, *cell) for cell in others])

    def solve(integral: bool) -> float:
        program = Program(coverage, 1 - coverage.sum(axis=1), gaps[1:], count, np.ones(len(tables)),
                          np.full(len(tables), integral))
        return least_target_coverage(program, table_probabilities(tables, *target), gaps[0], 0.93)

    relaxed, exact = solve(False), solve(True)
    assert exact == pytest.approx(least_coverage(target, others, 10, most=10), abs=1e-6)
    assert relaxed <= exact + 1e-9
    assert exact > 0.99  # the 0/1 program proves what a randomised interval need not do
    assert relaxed < 0.97


def test_bounds_grow_as_the_class_of_intervals_narrows():
    """Randomised (a linear program) <= any deterministic method <= one that treats queries alike."""
    target = (0.03, 0.01)
    randomised = least_coverage_totals(target, 10, 10, step=0.01, exact_up_to=0)
    deterministic = least_coverage_totals(target, 10, 10, step=0.01)
    symmetric = least_coverage_symmetric((*target, 0.0), 10, 1, step=0.01)
    assert 0.93 - 1e-6 <= randomised <= deterministic + 1e-6 <= symmetric + 2e-6
    assert symmetric > 0.99 > deterministic


@pytest.mark.parametrize("queries,samples,target,least", [(10, 1, (0.01, 0.01), 0.995), (10, 2, (0.03, 0.01), 0.97)])
def test_over_coverage_is_forced_in_rare_cells(queries, samples, target, least):
    """Any interval treating queries alike that covers 93 % on the rate lattice {0, 0.01, ..., 0.1}^2
    covers more than 97 % in these cells of issue 14's grid (the shipped one: 1.000)."""
    assert least_coverage_symmetric((*target, 0.0), queries, samples, step=0.01) > least


def test_a_common_outcome_cell_is_not_forced():
    """30 % vs 20 % with 10 queries: the bound is the floor, far below the band's top."""
    bound = least_coverage_symmetric((0.3, 0.2, 0.0), 10, 1, step=0.05, top=0.4)
    assert bound < 0.94


def test_forcing_weakens_with_more_samples():
    """The all-zero table is what forces the interval; with two samples per query it is rarer."""
    target = (0.05, 0.01, 0.0)
    assert least_coverage_symmetric(target, 10, 2, step=0.01) < 0.95 < least_coverage_symmetric(target, 10, 1,
                                                                                                 step=0.01)


def _per_query_tables(queries: int, samples: int):
    counts = np.array(list(itertools.product(range(samples + 1), repeat=queries)), float)
    return [(yt, yu) for yt in counts for yu in counts]


def _probability(yt, yu, samples, pt, pu, icc=0.0):
    return np.prod(query_counts(samples, pt, icc)[yt.astype(int)]) * np.prod(query_counts(samples, pu, icc)[yu.astype(int)])


def test_totals_are_sufficient_for_the_shipped_interval_at_icc_zero():
    """Tiny design (3 queries x 2 samples): the shipped gap interval's exact coverage equals the coverage
    of the randomised interval it induces on the totals, whose pattern weights given the totals are the
    same at every rate; that induced interval is a feasible point of the totals program (N y integral,
    its holdings a mixture of intervals)."""
    queries, samples = 3, 2
    n = queries * samples
    tables = _per_query_tables(queries, samples)
    yt, yu = (np.array([t[i] for t in tables]) for i in (0, 1))
    full = np.full(yt.shape, float(samples))
    _, low, high, _ = gap_bounds(yt, full, yu, full)
    totals = np.stack([yt.sum(axis=1), yu.sum(axis=1)], axis=1).astype(int)
    gaps = np.round(np.arange(-0.3, 0.3001, 0.05), 12)
    holds = (low[:, None] <= gaps + 1e-12) & (gaps - 1e-12 <= high[:, None])
    for pt, pu in [(0.1, 0.05), (0.3, 0.3), (0.02, 0.2)]:
        weights = np.array([_probability(a, b, samples, pt, pu) for a, b in tables])
        truth = pt - pu
        exact = np.sum(weights * ((low <= truth + 1e-12) & (truth - 1e-12 <= high)))
        via_totals = 0.0
        for xt, xu in itertools.product(range(n + 1), repeat=2):
            members = (totals[:, 0] == xt) & (totals[:, 1] == xu)
            given = weights[members] / weights[members].sum()
            arrangements = special.comb(n, xt) * special.comb(n, xu)
            per_pattern = np.array([np.prod(special.comb(samples, a)) * np.prod(special.comb(samples, b))
                                    for a, b in zip(yt[members], yu[members])]) / arrangements
            np.testing.assert_allclose(given, per_pattern, atol=1e-12)  # free of (pt, pu)
            y = given @ holds[members]
            assert np.allclose(y * arrangements, np.round(y * arrangements))
            assert np.sum(np.maximum(np.diff(y, prepend=0), 0)) <= 1 + 1e-9
            y_truth = given @ ((low[members] <= truth + 1e-12) & (truth - 1e-12 <= high[members]))
            via_totals += stats.binom.pmf(xt, n, pt) * stats.binom.pmf(xu, n, pu) * y_truth
        assert via_totals == pytest.approx(exact, abs=1e-12)


@pytest.mark.parametrize("icc", [0.0, 0.3])
def test_pattern_probabilities_match_enumeration(icc):
    """Patterns.probabilities (ways of spreading successes over queries, up to order) against the sum
    over enumerated per-query tables, at ICC 0 and with Beta per-query rates."""
    queries, samples, few = 3, 2, 3
    patterns = Patterns.up_to(queries, samples, few)
    keys = [tuple(sorted(tuple(patterns.parts[j]) for j in np.repeat(np.arange(len(patterns.parts)), row.astype(int))))
            for row in patterns.counts]
    summed = dict.fromkeys(keys, 0.0)
    for yt, yu in _per_query_tables(queries, samples):
        key = tuple(sorted((int(a), int(b)) for a, b in zip(yt, yu) if a or b))
        if key in summed:
            summed[key] += _probability(yt, yu, samples, 0.2, 0.1, icc)
    np.testing.assert_allclose(patterns.probabilities(0.2, 0.1, icc), [summed[k] for k in keys], atol=1e-12)


def test_cells_at_a_higher_icc_only_add_constraints():
    """Lattice cells at ICC 0.3 (only the tables with few successes constrained there) can only raise
    the bound."""
    target = (0.03, 0.01, 0.0)
    alone = least_coverage_symmetric(target, 10, 2, step=0.01)
    assert alone - 1e-6 <= least_coverage_symmetric(target, 10, 2, step=0.01, iccs=(0.0, 0.3))


def test_over_coverage_is_forced_in_a_clustered_cell():
    """1 % vs 1 %, 10 queries x 2 samples, ICC 0.1: an interval covering 93 % on the lattice at ICC 0,
    0.1 and 0.3 covers more than 97 % there (the tables with more than 3 successes counted as missed)."""
    assert least_coverage_symmetric((0.01, 0.01, 0.1), 10, 2, step=0.01, iccs=(0.0, 0.1, 0.3)) > 0.98


def test_treating_the_conditions_alike_forces_a_cell_that_queries_alike_does_not():
    """5 % vs 5 %, 10 queries x 1 sample: an interval treating queries alike could cover 0.955, one that
    also treats the two conditions alike (as the shipped one does) covers more than 97 %."""
    target = (0.05, 0.05, 0.0)
    queries_alike = least_coverage_symmetric(target, 10, 1, step=0.01)
    both_alike = least_coverage_symmetric(target, 10, 1, step=0.01, conditions_alike=True)
    assert queries_alike < 0.96 and both_alike > 0.97
    with pytest.raises(ValueError, match="lattice"):  # a gap off the lattice has no mirror image there
        least_coverage_symmetric((0.035, 0.01, 0.0), 10, 1, step=0.01, conditions_alike=True)


def test_the_shipped_gap_interval_treats_the_conditions_alike():
    """Swapping the two conditions' data negates the shipped interval: it is in the class proven above."""
    rng = np.random.default_rng(3)
    counts_t, counts_u = rng.integers(1, 6, (200, 12)).astype(float), rng.integers(1, 6, (200, 12)).astype(float)
    yt, yu = rng.binomial(counts_t.astype(int), 0.05).astype(float), rng.binomial(counts_u.astype(int), 0.1).astype(float)
    gap, low, high, _ = gap_bounds(yt, counts_t, yu, counts_u)
    swapped_gap, swapped_low, swapped_high, _ = gap_bounds(yu, counts_u, yt, counts_t)
    np.testing.assert_allclose(swapped_gap, -gap, atol=1e-12)
    np.testing.assert_allclose(swapped_low, -high, atol=1e-12)
    np.testing.assert_allclose(swapped_high, -low, atol=1e-12)

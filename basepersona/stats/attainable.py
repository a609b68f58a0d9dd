"""Which coverage any interval for a gap between two rates can reach (proof programs).

A confidence interval must cover at least `floor` at every true (p_train, p_unmon). Writing y[s, g]
for the probability that the interval of table s holds the gap g, the coverage at (pt, pu) is
sum_s P(s | pt, pu) y[s, pt - pu], linear in y. Minimising it at a target cell subject to coverage
>= floor at other cells bounds every method from below: above 0.97, the 93-97 % band is out of reach
in that cell whatever the interval. Three relaxations keep each bound valid:

- Only the cells given (a lattice of rates, or a few cells) are constrained, not every real (pt, pu).
- Tables with more successes than `most` are left free: their probability is subtracted from the
  floor and their share of the target's coverage counted as 0.
- The interval is only asked to be an interval on the gaps of the program: y[s, .] is a mixture of
  interval indicators, i.e. its upward steps sum to at most 1 (its level sets are intervals, and
  y = integral of the level sets' indicators over the level).

`least_coverage` is the 0/1 program over paired tables (a, b, c) with one sample per query, for
intervals that do not depend on the order of the queries. `least_coverage_totals` works on the two
condition totals and holds for any method, through sufficiency: with per-query rates equal in each
condition (ICC 0, or one sample per query) and a fixed number of samples per query, the n_t training
samples are i.i.d. Bernoulli(pt), the n_u unmonitored ones Bernoulli(pu), so given the totals
(x_t, x_u) every arrangement of the successes over queries and samples has the same probability
1 / N, N = C(n_t, x_t) C(n_u, x_u), whatever (pt, pu). Any interval computed from the full data
therefore holds g, given the totals, with probability y[s, g] = (number of arrangements whose
interval holds g) / N, and has the same coverage as y at every (pt, pu). For a deterministic method
N y[s, .] is a sum of N interval indicators: integral, with upward steps summing to at most N; the
program demands this integrality for the tables with N <= `exact_up_to` (the all-zero table has N = 1,
so its interval is one fixed interval) and lets the other tables be any mixture (a randomised method
may be any mixture everywhere: `exact_up_to=0`, a plain linear program).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse, special, stats


@dataclass(frozen=True)
class Units:
    """What the program chooses per table: a unit is one variable per gap, standing for `weight` of its
    table's y; its values lie in [0, budget], its upward steps sum to at most budget, and it is integral
    or not. A table's y is the sum of its units' weight * value."""

    table: np.ndarray
    weight: np.ndarray
    budget: np.ndarray
    integral: np.ndarray

    @staticmethod
    def mixtures(size: int) -> Units:
        """Each table's y any mixture of intervals (what a randomised method may do)."""
        return Units(np.arange(size), np.ones(size), np.ones(size), np.zeros(size, bool))

    @staticmethod
    def join(parts: list[Units]) -> Units:
        return Units(*(np.concatenate([getattr(p, name) for p in parts])
                       for name in ("table", "weight", "budget", "integral")))


def least_target_coverage(probabilities: np.ndarray, cell_gaps: np.ndarray, gap_count: int, units: Units,
                          target: np.ndarray, target_gap: int, floor: float) -> float:
    """The minimum over the units of sum_s target[s] y[s, target_gap] subject to sum_s probabilities[c, s]
    y[s, cell_gaps[c]] >= floor at every cell c: a valid lower bound (HiGHS's dual bound for a mixed
    program, the optimum for a linear one); NaN when the cells cannot all reach the floor."""
    cells, count = len(probabilities), len(units.table)
    n_x = count * gap_count
    mass = probabilities[:, units.table] * units.weight  # coverage per unit of each variable, per cell
    tiny = mass < 1e-13  # left out of the rows; their most (mass * budget) is taken off the floor instead
    tails = 1 - probabilities.sum(axis=1) + np.sum(np.where(tiny, mass * units.budget, 0), axis=1)
    columns = np.arange(count) * gap_count + cell_gaps[:, None]
    coverage = sparse.csr_matrix((mass[~tiny], (np.nonzero(~tiny)[0], columns[~tiny])), shape=(cells, 2 * n_x))
    # up-steps: u[k, g] >= x[k, g] - x[k, g - 1] (x[k, -1] = 0), and sum_g u[k, g] <= budget[k]
    rows = np.arange(n_x)
    later = rows % gap_count > 0
    steps = sparse.csr_matrix((np.concatenate([np.ones(n_x), -np.ones(n_x), np.ones(later.sum())]),
                               (np.concatenate([rows, rows, rows[later]]),
                                np.concatenate([n_x + rows, rows, rows[later] - 1]))), shape=(n_x, 2 * n_x))
    budgets = sparse.csr_matrix((np.ones(n_x), (rows // gap_count, n_x + rows)), shape=(count, 2 * n_x))
    constraints = [optimize.LinearConstraint(coverage, floor - tails, np.inf),
                   optimize.LinearConstraint(steps, 0, np.inf),
                   optimize.LinearConstraint(budgets, -np.inf, units.budget)]
    upper = np.concatenate([np.repeat(units.budget, gap_count), np.full(n_x, np.inf)])
    integrality = np.concatenate([np.repeat(units.integral, gap_count), np.zeros(n_x, bool)]).astype(int)
    objective = np.zeros(2 * n_x)
    objective[np.arange(count) * gap_count + target_gap] = target[units.table] * units.weight
    found = optimize.milp(objective, integrality=integrality, bounds=optimize.Bounds(0, upper),
                          constraints=constraints, options={"time_limit": 600})
    if found.status == 2:
        return float("nan")  # infeasible: no interval reaches the floor at all these cells
    if found.x is None and not integrality.any():
        raise RuntimeError(f"the proof program did not finish: {found.message}")
    return float(found.mip_dual_bound if integrality.any() else found.fun)


def paired_tables(queries: int, most: int) -> np.ndarray:
    """Every (a, b, c, d) with a + b + c <= most."""
    rows = [(a, b, c, queries - a - b - c) for a, b, c in itertools.product(range(most + 1), repeat=3)
            if a + b + c <= min(most, queries)]
    return np.array(rows)


def table_probabilities(tables: np.ndarray, p_train: float, p_unmon: float) -> np.ndarray:
    cells = [p_train * p_unmon, p_train * (1 - p_unmon), (1 - p_train) * p_unmon, (1 - p_train) * (1 - p_unmon)]
    return stats.multinomial.pmf(tables, tables[0].sum(), cells)


def gap_indices(cells: list[tuple[float, float]]) -> tuple[np.ndarray, int]:
    gaps = sorted({round(pt - pu, 12) for pt, pu in cells})
    return np.array([gaps.index(round(pt - pu, 12)) for pt, pu in cells]), len(gaps)


def least_coverage(target: tuple[float, float], others: list[tuple[float, float]], queries: int,
                   floor: float = 0.93, most: int = 14) -> float:
    """The lowest coverage any interval that is a function of the paired table (a, b, c) (one sample per
    query) can have at the target cell (p_train, p_unmon) while covering at least `floor` at every other
    cell: above 0.97, no such interval meets the band at all these cells."""
    tables = paired_tables(queries, most)
    gaps, count = gap_indices([target, *others])
    units = Units.mixtures(len(tables))
    units = Units(units.table, units.weight, units.budget, np.ones(len(tables), bool))  # one interval per table
    return least_target_coverage(np.array([table_probabilities(tables, *cell) for cell in others]), gaps[1:], count,
                                 units, table_probabilities(tables, *target), gaps[0], floor)


def total_tables(n_train: int, n_unmon: int, most: tuple[int, int]) -> np.ndarray:
    """Every (x_t, x_u) with x_t <= most[0], x_u <= most[1]."""
    return np.array(list(itertools.product(range(min(most[0], n_train) + 1), range(min(most[1], n_unmon) + 1))))


def query_patterns(successes: tuple[int, int], queries: int, samples: int) -> list[float]:
    """The probabilities, given the condition totals, of the ways the successes fall on the queries up to
    the order of queries and of samples within a query (each way: a multiset of per-query (k_t, k_u)),
    with `samples` i.i.d. samples per query and condition."""
    parts = [(kt, ku) for kt in range(samples + 1) for ku in range(samples + 1) if kt or ku]

    def spread(left: tuple[int, int], start: int) -> list[list[tuple[int, int]]]:
        if left == (0, 0):
            return [[]]
        found = []
        for index in range(start, len(parts)):
            kt, ku = parts[index]
            if kt <= left[0] and ku <= left[1]:
                found += [[parts[index], *rest] for rest in spread((left[0] - kt, left[1] - ku), index)]
        return found

    n_t, n_u = queries * samples, queries * samples
    total = special.gammaln(n_t + 1) - special.gammaln(successes[0] + 1) - special.gammaln(n_t - successes[0] + 1) \
        + special.gammaln(n_u + 1) - special.gammaln(successes[1] + 1) - special.gammaln(n_u - successes[1] + 1)
    shares = []
    for way in spread(successes, 0):
        if len(way) > queries:
            continue
        log = special.gammaln(queries + 1) - special.gammaln(queries - len(way) + 1) - total
        log -= sum(special.gammaln(way.count(part) + 1) for part in set(way))
        log += sum(np.log(special.comb(samples, kt)) + np.log(special.comb(samples, ku)) for kt, ku in way)
        shares.append(float(np.exp(log)))
    return shares


def least_coverage_totals(target: tuple[float, float], n_train: int, n_unmon: int, floor: float = 0.93,
                          step: float = 0.005, top: float = 0.1, exact_up_to: float = 1,
                          tail: float = 1e-6, symmetric: tuple[int, int, int] | None = None) -> float:
    """The lowest coverage at the target (p_train, p_unmon) of any interval for p_train - p_unmon that
    covers at least `floor` at every (pt, pu) of the lattice {0, step, ..., top}^2, when the conditions
    hold n_train and n_unmon i.i.d. samples (ICC 0 or one sample per query; see the module's note):
    a lower bound for every deterministic method (and, with exact_up_to=0, every randomised one).
    Tables beyond the `1 - tail` quantile of the totals at `top` are left free."""
    rates = np.round(np.arange(0, top + step / 2, step), 12)
    cells = list(itertools.product(rates, rates))
    most = (int(stats.binom.ppf(1 - tail, n_train, top)), int(stats.binom.ppf(1 - tail, n_unmon, top)))
    tables = total_tables(n_train, n_unmon, most)

    def probabilities(cell: tuple[float, float]) -> np.ndarray:
        return stats.binom.pmf(tables[:, 0], n_train, cell[0]) * stats.binom.pmf(tables[:, 1], n_unmon, cell[1])

    gaps, count = gap_indices([target, *cells])
    arrangements = special.comb(n_train, tables[:, 0]) * special.comb(n_unmon, tables[:, 1])
    exact = arrangements <= exact_up_to  # N y integral: N arrangements, each with one interval
    units = Units(np.arange(len(tables)), np.where(exact, 1 / arrangements, 1.0), np.where(exact, arrangements, 1.0),
                  exact)
    if symmetric:
        queries, samples, most_successes = symmetric
        few = tables.sum(axis=1) <= most_successes
        shares = [query_patterns(tuple(table), queries, samples) for table in tables[few]]
        sizes = np.array([len(s) for s in shares])
        units = Units.join([Units(np.flatnonzero(~few), np.ones((~few).sum()), np.ones((~few).sum()),
                                  np.zeros((~few).sum(), bool)),
                            Units(np.repeat(np.flatnonzero(few), sizes), np.concatenate(shares), np.ones(sizes.sum()),
                                  np.ones(sizes.sum(), bool))])
    return least_target_coverage(np.array([probabilities(cell) for cell in cells]), gaps[1:], count, units,
                                 probabilities(target), gaps[0], floor)

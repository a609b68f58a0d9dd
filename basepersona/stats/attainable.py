"""Which coverage any interval for a gap between two rates can reach (proof programs).

A confidence interval must cover at least `floor` at every true (p_train, p_unmon). Writing y[s, g]
for the probability that the interval of table s holds the gap g, the coverage at (pt, pu) is
sum_s P(s | pt, pu) y[s, pt - pu], linear in y. Minimising it at a target cell subject to coverage
>= floor at other cells bounds every method from below: above 0.97, the 93-97 % band is out of reach
in that cell whatever the interval. Three relaxations keep each bound valid:

- Only the cells given (a lattice of rates, or a few cells) are constrained, not every real (pt, pu).
- Tables beyond a quantile are left free: their probability is taken off the floor and their share of
  the target's coverage counted as 0.
- The interval is only asked to be an interval on the gaps of the program: y[s, .] is a mixture of
  interval indicators, i.e. its upward steps sum to at most 1 (its level sets are intervals, and
  y = integral of the level sets' indicators over the level).

Sufficiency at ICC 0. With per-query rates equal within a condition (ICC 0, or one sample per query)
and a fixed number of samples per query, the n_t training samples are i.i.d. Bernoulli(pt) and the
n_u unmonitored ones Bernoulli(pu), so given the totals (x_t, x_u) every arrangement of the successes
over queries and samples has the same probability 1 / N, N = C(n_t, x_t) C(n_u, x_u), whatever
(pt, pu) (Rao-Blackwell). Any interval computed from the full data therefore holds g, given the
totals, with a probability y[s, g] that does not depend on (pt, pu), and has the coverage of y at
every ICC-0 cell: a program over the totals bounds every method.

A randomised interval may make y any mixture of intervals; that linear program's bound is the floor
itself in every rare cell tried (a test may reject with probability 0.07 on the all-zero table), so
it proves nothing. The proofs use determinism: `least_coverage_totals` asks N y to be integral for
tables with N <= exact_up_to (the all-zero table, N = 1, gets one fixed interval), which holds for
any deterministic method; `least_coverage_symmetric` gives each way of spreading a few successes over
the queries (up to the order of queries and of samples within a query) its own 0/1 interval, which
holds for any deterministic method that treats queries alike (the shipped ones do), and with
conditions_alike=True also asks that swapping the two conditions' data negates the interval (MOVER,
its t join and every textbook interval for a difference do; so does every mixture over arrangements);
`least_coverage` is the older 0/1 program over paired tables (a, b, c) at a few cells.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse, special, stats


@dataclass(frozen=True)
class Program:
    """Coverage constraints: coverage[c, k] is what one unit of variable k (at the cell's gap) adds to the
    coverage at cell c, tails[c] what the left-out tables could add at most. A variable k is one value per
    gap, in [0, budget[k]], with upward steps summing to at most budget[k] (a sum of budget[k] intervals),
    integral or not."""

    coverage: np.ndarray
    tails: np.ndarray
    cell_gaps: np.ndarray
    gap_count: int
    budget: np.ndarray
    integral: np.ndarray
    # mirror[k]: the variable of table k with the conditions swapped; then x[k, g] = x[mirror[k], -g]
    # (the program's gaps must be symmetric about 0)
    mirror: np.ndarray | None = None


def least_target_coverage(program: Program, target: np.ndarray, target_gap: int, floor: float,
                          seconds: float = 600) -> float:
    """The minimum of sum_k target[k] x[k, target_gap] subject to coverage >= floor at every cell: a valid
    lower bound (HiGHS's dual bound for a mixed program, also when stopped after `seconds`; the optimum
    for a linear one); NaN when the cells cannot all reach the floor; RuntimeError when stopped before
    any bound."""
    cells, count = program.coverage.shape
    gaps, budget = program.gap_count, program.budget
    n_x = count * gaps
    tiny = program.coverage < 1e-13  # left out of the rows; their most is taken off the floor instead
    tails = program.tails + np.sum(np.where(tiny, program.coverage * budget, 0), axis=1)
    columns = np.arange(count) * gaps + program.cell_gaps[:, None]
    coverage = sparse.csr_matrix((program.coverage[~tiny], (np.nonzero(~tiny)[0], columns[~tiny])),
                                 shape=(cells, 2 * n_x))
    # up-steps: u[k, g] >= x[k, g] - x[k, g - 1] (x[k, -1] = 0), and sum_g u[k, g] <= budget[k]
    rows = np.arange(n_x)
    later = rows % gaps > 0
    steps = sparse.csr_matrix((np.concatenate([np.ones(n_x), -np.ones(n_x), np.ones(later.sum())]),
                               (np.concatenate([rows, rows, rows[later]]),
                                np.concatenate([n_x + rows, rows, rows[later] - 1]))), shape=(n_x, 2 * n_x))
    budgets = sparse.csr_matrix((np.ones(n_x), (rows // gaps, n_x + rows)), shape=(count, 2 * n_x))
    constraints = [optimize.LinearConstraint(coverage, floor - tails, np.inf),
                   optimize.LinearConstraint(steps, 0, np.inf),
                   optimize.LinearConstraint(budgets, -np.inf, budget)]
    if program.mirror is not None:
        constraints.append(_swap_constraint(program.mirror, gaps, 2 * n_x))
    upper = np.concatenate([np.repeat(budget, gaps), np.full(n_x, np.inf)])
    integrality = np.concatenate([np.repeat(program.integral, gaps), np.zeros(n_x, bool)]).astype(int)
    objective = np.zeros(2 * n_x)
    objective[np.arange(count) * gaps + target_gap] = target
    found = optimize.milp(objective, integrality=integrality, bounds=optimize.Bounds(0, upper),
                          constraints=constraints, options={"time_limit": seconds})
    if found.status == 2:
        return float("nan")  # infeasible: no interval reaches the floor at all these cells
    bound = found.mip_dual_bound if integrality.any() else found.fun if found.x is not None else None
    if bound is None:
        raise RuntimeError(f"the proof program stopped before it had a bound: {found.message}")
    return float(bound)


def _swap_constraint(mirror: np.ndarray, gaps: int, width: int) -> optimize.LinearConstraint:
    """x[k, g] - x[mirror[k], gaps - 1 - g] = 0 for every pair (each once)."""
    table, gap = np.repeat(np.arange(len(mirror)), gaps), np.tile(np.arange(gaps), len(mirror))
    first, second = table * gaps + gap, mirror[table] * gaps + gaps - 1 - gap
    keep = first < second
    rows = np.arange(keep.sum())
    pairs = sparse.csr_matrix((np.r_[np.ones(rows.size), -np.ones(rows.size)],
                               (np.r_[rows, rows], np.r_[first[keep], second[keep]])), shape=(rows.size, width))
    return optimize.LinearConstraint(pairs, 0, 0)


def gap_indices(cells: list[tuple[float, ...]]) -> tuple[np.ndarray, int]:
    gaps = sorted({round(cell[0] - cell[1], 12) for cell in cells})
    return np.array([gaps.index(round(cell[0] - cell[1], 12)) for cell in cells]), len(gaps)


def paired_tables(queries: int, most: int) -> np.ndarray:
    """Every (a, b, c, d) with a + b + c <= most."""
    rows = [(a, b, c, queries - a - b - c) for a, b, c in itertools.product(range(most + 1), repeat=3)
            if a + b + c <= min(most, queries)]
    return np.array(rows)


def table_probabilities(tables: np.ndarray, p_train: float, p_unmon: float) -> np.ndarray:
    cells = [p_train * p_unmon, p_train * (1 - p_unmon), (1 - p_train) * p_unmon, (1 - p_train) * (1 - p_unmon)]
    return stats.multinomial.pmf(tables, tables[0].sum(), cells)


def least_coverage(target: tuple[float, float], others: list[tuple[float, float]], queries: int,
                   floor: float = 0.93, most: int = 14) -> float:
    """The lowest coverage any interval that is a function of the paired table (a, b, c) (one sample per
    query) can have at the target cell (p_train, p_unmon) while covering at least `floor` at every other
    cell: above 0.97, no such interval meets the band at all these cells."""
    tables = paired_tables(queries, most)
    gaps, count = gap_indices([target, *others])
    coverage = np.array([table_probabilities(tables, *cell) for cell in others])
    ones = np.ones(len(tables))
    program = Program(coverage, 1 - coverage.sum(axis=1), gaps[1:], count, ones, ones.astype(bool))
    return least_target_coverage(program, table_probabilities(tables, *target), gaps[0], floor)


def rate_lattice(step: float, top: float) -> list[tuple[float, float]]:
    """Every (p_train, p_unmon) with both in {0, step, ..., top}."""
    rates = np.round(np.arange(0, top + step / 2, step), 12)
    return [(float(pt), float(pu)) for pt, pu in itertools.product(rates, rates)]


def total_tables(n_train: int, n_unmon: int, most: tuple[int, int]) -> np.ndarray:
    """Every (x_t, x_u) with x_t <= most[0], x_u <= most[1]."""
    return np.array(list(itertools.product(range(min(most[0], n_train) + 1), range(min(most[1], n_unmon) + 1))))


def totals_probabilities(tables: np.ndarray, n_train: int, n_unmon: int, cell: tuple[float, ...]) -> np.ndarray:
    return stats.binom.pmf(tables[:, 0], n_train, cell[0]) * stats.binom.pmf(tables[:, 1], n_unmon, cell[1])


def likely_totals(n_train: int, n_unmon: int, top: float, tail: float) -> np.ndarray:
    """The totals tables up to the 1 - tail quantile of both totals at the highest rate."""
    return total_tables(n_train, n_unmon, (int(stats.binom.ppf(1 - tail, n_train, top)),
                                           int(stats.binom.ppf(1 - tail, n_unmon, top))))


def least_coverage_totals(target: tuple[float, float], n_train: int, n_unmon: int, floor: float = 0.93,
                          step: float = 0.005, top: float = 0.1, exact_up_to: float = 1,
                          tail: float = 1e-6, seconds: float = 600) -> float:
    """The lowest coverage at the target (p_train, p_unmon) of any interval for p_train - p_unmon that
    covers at least `floor` at every cell of rate_lattice(step, top), when the conditions hold n_train
    and n_unmon i.i.d. samples (ICC 0 or one sample per query; see the module's note): a lower bound for
    every deterministic method (and, with exact_up_to=0, every randomised one)."""
    cells = rate_lattice(step, top)
    tables = likely_totals(n_train, n_unmon, top, tail)
    gaps, count = gap_indices([target, *cells])
    arrangements = special.comb(n_train, tables[:, 0]) * special.comb(n_unmon, tables[:, 1])
    exact = arrangements <= exact_up_to  # N y integral: N arrangements, each with one interval
    scale = np.where(exact, arrangements, 1.0)
    probabilities = np.array([totals_probabilities(tables, n_train, n_unmon, cell) for cell in cells])
    program = Program(probabilities / scale, 1 - probabilities.sum(axis=1), gaps[1:], count, scale, exact)
    return least_target_coverage(program, totals_probabilities(tables, n_train, n_unmon, target) / scale,
                                 gaps[0], floor, seconds)


@dataclass(frozen=True)
class Patterns:
    """The ways at most `few` successes fall on `queries` queries with `samples` samples each, up to the
    order of the queries and of the samples within one: counts[w, j] queries show parts[j] = (k_t, k_u)."""

    queries: int
    samples: int
    parts: list[tuple[int, int]]
    counts: np.ndarray

    @staticmethod
    def up_to(queries: int, samples: int, few: int) -> Patterns:
        parts = [(kt, ku) for kt in range(samples + 1) for ku in range(samples + 1) if 0 < kt + ku <= few]

        def spread(left: int, start: int) -> list[list[int]]:  # multisets of parts, as sorted part indices
            ways: list[list[int]] = [[]]
            for index in range(start, len(parts)):
                if sum(parts[index]) <= left:
                    ways += [[index, *rest] for rest in spread(left - sum(parts[index]), index)]
            return ways

        ways = [way for way in spread(few, 0) if len(way) <= queries]
        counts = np.zeros((len(ways), len(parts)))
        for row, way in enumerate(ways):
            np.add.at(counts[row], way, 1)
        return Patterns(queries, samples, parts, counts)

    def swapped(self) -> np.ndarray:
        """Each pattern's index with the two conditions swapped (every (k_t, k_u) read as (k_u, k_t))."""
        part = {kt_ku: index for index, kt_ku in enumerate(self.parts)}
        mirror = np.array([part[(ku, kt)] for kt, ku in self.parts])
        index = {tuple(row): i for i, row in enumerate(self.counts)}
        return np.array([index[tuple(row[mirror])] for row in self.counts])

    def probabilities(self, p_train: float, p_unmon: float, icc: float) -> np.ndarray:
        """P(pattern) with per-query rates Beta with the ICC (stats/synthetic.py), independent between
        conditions and queries."""
        per_train, per_unmon = (query_counts(self.samples, p, icc) for p in (p_train, p_unmon))
        shares = np.array([per_train[kt] * per_unmon[ku] for kt, ku in self.parts])
        used = self.counts.sum(axis=1)
        orders = (special.gammaln(self.queries + 1) - special.gammaln(self.queries - used + 1)
                  - special.gammaln(self.counts + 1).sum(axis=1))
        possible = shares > 0
        empty = np.log(per_train[0] * per_unmon[0])  # rates stay below 1 here
        terms = self.counts[:, possible] @ np.log(shares[possible]) + (self.queries - used) * empty
        return np.where((self.counts[:, ~possible] > 0).any(axis=1), 0.0, np.exp(orders + terms))


def query_counts(samples: int, rate: float, icc: float) -> np.ndarray:
    """P(k successes among one query's samples), k = 0..samples."""
    k = np.arange(samples + 1)
    if rate <= 0 or rate >= 1:
        return (k == round(rate * samples)).astype(float)
    if icc <= 0:
        return stats.binom.pmf(k, samples, rate)
    concentration = (1 - icc) / icc
    return stats.betabinom.pmf(k, samples, rate * concentration, (1 - rate) * concentration)


def least_coverage_symmetric(target: tuple[float, float, float], queries: int, samples: int,
                             floor: float = 0.93, step: float = 0.005, top: float = 0.1,
                             iccs: tuple[float, ...] = (0.0,), few: int = 3, tail: float = 1e-6,
                             seconds: float = 600, conditions_alike: bool = False) -> float:
    """The lowest coverage at the target (p_train, p_unmon, ICC) of any deterministic interval that treats
    queries alike (and samples within a query alike) and covers at least `floor` at every lattice cell
    (rate_lattice(step, top) at each ICC of `iccs`), with `samples` samples per query.

    Each way of spreading at most `few` successes (Patterns) gets its own interval (0/1 variables).
    The other tables enter by their totals, as any mixture of intervals: at ICC 0 the spread of their
    successes given the totals is the same for every rate (module note), so a method's y there is one
    fixed mixture; at an ICC above 0 it is not, so those cells count them as covered (their mass off
    the floor) and the target's bound, at any ICC, counts them as not covered. conditions_alike: only
    intervals that swapping the conditions negates (the module note)."""
    patterns = Patterns.up_to(queries, samples, few)
    n = queries * samples
    tables = likely_totals(n, n, top, tail)
    tables = tables[tables.sum(axis=1) > few]
    cells = [(pt, pu, icc) for icc in iccs for pt, pu in rate_lattice(step, top)]
    gaps, count = gap_indices([target, *cells])

    def row(cell: tuple[float, float, float]) -> np.ndarray:
        spread = totals_probabilities(tables, n, n, cell) if cell[2] <= 0 else np.zeros(len(tables))
        return np.concatenate([patterns.probabilities(*cell), spread])

    coverage = np.array([row(cell) for cell in cells])
    units = len(patterns.counts)
    mirror = None
    if conditions_alike:  # the lattice is square, so its gaps are symmetric about 0 when the target's is on it
        values = np.array(sorted({round(cell[0] - cell[1], 12) for cell in [target, *cells]}))
        if not np.allclose(values, -values[::-1]):
            raise ValueError("conditions_alike needs the target's gap on the lattice (gaps symmetric about 0)")
        swapped_totals = {(int(a), int(b)): i for i, (a, b) in enumerate(tables)}
        mirror = np.r_[patterns.swapped(), units + np.array([swapped_totals[(int(b), int(a))] for a, b in tables])]
    program = Program(coverage, 1 - coverage.sum(axis=1), gaps[1:], count, np.ones(coverage.shape[1]),
                      np.arange(coverage.shape[1]) < units, mirror)
    return least_target_coverage(program, row(target), gaps[0], floor, seconds)

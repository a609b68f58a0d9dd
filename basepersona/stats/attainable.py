"""Which coverage any interval for a paired gap can reach, with one sample per query (a proof program).

With one sample per query and condition and independent conditions, a table is (a, b, c, d): queries
with a success in both conditions, in training only, in unmonitored only, in neither, multinomial with
cell probabilities (pt pu, pt (1 - pu), (1 - pt) pu, (1 - pt)(1 - pu)). Any interval that does not
depend on the order of the queries is a function of (a, b, c). Whether such an interval exists whose
coverage lies in a band at several (pt, pu) cells at once is a 0/1 program: x[s, g] = 1 when the
interval of table s holds the gap g; coverage of cell (pt, pu) = sum_s P(s) x[s, pt - pu]; holding
g1 and g3 forces holding every g2 between (an interval). Tables with more than `most` successes are
left free (their probability is subtracted from the lower bound), which only relaxes the program:
an infeasible or bounded result still holds for every interval.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import optimize, sparse, stats


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
    """The lowest coverage any interval can have at the target cell (p_train, p_unmon) while covering at
    least `floor` at every other cell: above 0.97, no interval meets the band at all these cells."""
    cells = [target, *others]
    gaps = sorted({round(pt - pu, 12) for pt, pu in cells})
    tables = paired_tables(queries, most)
    size = len(tables)
    probabilities = np.array([table_probabilities(tables, *cell) for cell in cells])
    tails = 1 - probabilities.sum(axis=1)

    def block(gap: float) -> int:
        return gaps.index(round(gap, 12))

    def coverage_row(cell: tuple[float, float], weights: np.ndarray) -> sparse.csr_matrix:
        row = sparse.lil_matrix((1, len(gaps) * size))
        start = block(cell[0] - cell[1]) * size
        row[0, start:start + size] = weights
        return row.tocsr()

    rows = [coverage_row(cell, weights) for cell, weights in zip(others, probabilities[1:])]
    constraints = [optimize.LinearConstraint(sparse.vstack(rows), floor - tails[1:], np.inf)] if rows else []
    eye = sparse.identity(size, format="csr")
    for low, middle, high in itertools.combinations(range(len(gaps)), 3):  # x_low + x_high - x_middle <= 1
        blocks = [eye if j in (low, high) else -eye if j == middle else sparse.csr_matrix((size, size))
                  for j in range(len(gaps))]
        constraints.append(optimize.LinearConstraint(sparse.hstack(blocks, format="csr"), -np.inf, 1))
    objective = coverage_row(target, probabilities[0]).toarray().ravel()
    found = optimize.milp(objective, integrality=np.ones(objective.size), bounds=optimize.Bounds(0, 1),
                          constraints=constraints, options={"time_limit": 120})
    if found.x is None:
        return float("nan")  # the other cells cannot all reach the floor
    return float(found.fun)

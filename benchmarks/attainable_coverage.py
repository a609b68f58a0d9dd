"""Lower bounds on the gap interval's coverage that no interval can go below (stats/attainable.py),
beside the shipped interval's simulated coverage, for the rare cells of issue 14's grid.

    nice python benchmarks/attainable_coverage.py            # G in {10, 30, 100}
    python benchmarks/attainable_coverage.py --queries 10    # one size (--samples 1 2 5 1-8: columns)
    python benchmarks/attainable_coverage.py --queries 10 --samples 2 --iccs 0.1 0.3 --few 5   # clustered cells

Per cell: the simulated coverage of the shipped gap interval (benchmarks/gap_coverage.py's tables,
--reps per cell); "symmetric", the least coverage of any deterministic interval that treats queries
alike and covers at least 93 % at every (p_train, p_unmon) of the lattice {0, step, ..., top}^2 at
ICC 0 (m fixed); "alike", the same for those that also treat the two conditions alike (swapping
the conditions' data negates the interval, as it does the shipped one's); "any", the same for any deterministic interval, queries alike or not (condition
totals, only the all-zero table's interval forced to be one interval). For m = 1-8 the bound is
conditional on the design: any method covering at least 93 % given the samples per query, at a
design with 4.5 G samples per condition (the benchmark's mean). At an ICC above 0 (m = 2 and 5):
"symmetric" and "alike" with lattice cells at ICC 0, 0.1 and 0.3, where only the tables with at most `few`
successes are constrained and counted. A bound above 0.97 is forced over-coverage (marked "forced").
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
from gap_coverage import GRIDS, covered, draw

from basepersona.stats.attainable import least_coverage_symmetric, least_coverage_totals
from basepersona.stats.paired import gap_bounds

RARE = [rate for rate in GRIDS["issue"][0] if rate[0] + rate[1] <= 0.05]
COLUMNS = ("1", "2", "5", "1-8")
CLUSTERED = (0.1, 0.3)


def shipped(rng, reps, queries, m, rate, icc) -> float:
    tables = draw(rng, reps, queries, m, rate, icc)
    _, low, high, _ = gap_bounds(*tables)
    return covered(low, high, rate[1])


def bounds(queries, m, rate, icc, args) -> tuple[float, float, float]:
    """(symmetric, alike, any); NaN where there is no such program or it stopped before it had a bound."""
    target = (rate[0] + rate[1], rate[0])
    nan = float("nan")
    # lattice cells at ICC 0, and above 0 at each clustered ICC of the grid too (no totals program there)
    lattice = tuple(sorted({0.0, *CLUSTERED, icc})) if icc > 0 else (0.0,)

    def symmetric(alike: bool) -> float:
        return bounded(lambda: least_coverage_symmetric((*target, icc), queries, m, step=args.step, top=args.top,
                                                        iccs=lattice, few=args.few, seconds=args.seconds,
                                                        conditions_alike=alike))
    if icc > 0:
        return symmetric(False), symmetric(True), nan
    n = round(4.5 * queries) if m == "1-8" else queries * m
    any_method = bounded(lambda: least_coverage_totals(target, n, n, step=args.step, top=args.top,
                                                       seconds=args.seconds))
    if m == "1-8":
        return nan, nan, any_method
    return symmetric(False), symmetric(True), any_method


def bounded(program) -> float:
    try:
        return program()
    except RuntimeError:  # stopped at the time limit before a bound
        return float("nan")


def show(value: float) -> str:
    return "—" if np.isnan(value) else f"{value:.3f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--samples", nargs="+", choices=COLUMNS, default=list(COLUMNS), help="columns (m)")
    parser.add_argument("--iccs", type=float, nargs="+", default=[0.0],
                        help="ICCs of the cells (above 0: m = 2 and 5 only, the lattice at ICC 0, 0.1, 0.3)")
    parser.add_argument("--step", type=float, default=0.01, help="the rate lattice's step")
    parser.add_argument("--top", type=float, default=0.1, help="the rate lattice's highest rate")
    parser.add_argument("--few", type=int, default=3, help="tables with at most this many successes get "
                                                           "one interval per way of spreading them")
    parser.add_argument("--seconds", type=float, default=120,
                        help="stop each program after this long (its dual bound stays a valid bound)")
    parser.add_argument("--reps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"lattice step {args.step:g} up to {args.top:g}, few {args.few}, shipped: {args.reps} tables per cell, "
          f"seed {args.seed}\n")
    print("| unmonitored, gap | G | m | ICC | shipped | symmetric | alike | any | forced | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    forced = over = 0
    for queries, column, icc, rate in itertools.product(args.queries, args.samples, args.iccs, RARE):
        if icc > 0 and column in ("1", "1-8"):
            continue  # one sample per query: the ICC does not enter; 1-8: no program
        m = column if column == "1-8" else int(column)
        start = time.perf_counter()
        symmetric, alike, any_method = bounds(queries, m, rate, icc, args)
        seconds = time.perf_counter() - start
        coverage = shipped(rng, args.reps, queries, m, rate, icc)
        best = np.nanmax([symmetric, alike, any_method, 0.0])
        over += coverage > 0.97
        forced += coverage > 0.97 and best > 0.97
        print(f"| {100 * rate[0]:g} %, {100 * rate[1]:g} pt | {queries} | {m} | {icc:g} | {coverage:.3f} | {show(symmetric)} "
              f"| {show(alike)} | {show(any_method)} | {'forced' if best > 0.97 else ''} | {seconds:.0f} |", flush=True)
    print(f"\n{over} cells with the shipped interval over 97 %, {forced} of them proven forced")


if __name__ == "__main__":
    main()

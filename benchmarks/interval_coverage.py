"""Simulated coverage of the query-clustered rate interval (docs/STATS.md): the shipped rule, the same
rule without the far bound's hidden design effect (before issue 14's many-samples fix), and the
one-quantile rule before both (the intermediate rule of commit 0dfae46 differed only in its df growth;
its figures are in that commit's message and docs).

    python benchmarks/interval_coverage.py                  # the 72-cell grid, seed 21, 20,000 tables per cell
    python benchmarks/interval_coverage.py --seed 22
    python benchmarks/interval_coverage.py --grid check     # p {0.1, 0.3} x G {15, 40} x m {3, 6} x ICC {0.05, 0.2}
    python benchmarks/interval_coverage.py --grid extra --seed 31   # rarer, ICC up to 0.5
    python benchmarks/interval_coverage.py --grid many      # 10-30 samples per query, ICC 0.2-0.8

Tables are drawn as in tests/test_stats_intervals.py (Beta per-query rates with the given ICC, binomial
samples). The m = 1 column of the main grid is Wilson's exact coverage (binomial enumeration).
Exact coverage with several samples per query (pattern enumeration) and the feasibility programs are in
tests/test_stats_intervals.py.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
from scipy import stats

from basepersona.stats.intervals import clustered_wilson, wilson_interval, wilson_with_quantile
from basepersona.stats.synthetic import query_rates

GRIDS = {"main": ((0.03, 0.05, 0.2, 0.5), (10, 20, 80), (4, 10), (0.0, 0.1, 0.3)),
         "check": ((0.1, 0.3), (15, 40), (3, 6), (0.05, 0.2)),
         "extra": ((0.02, 0.08, 0.35), (15, 40), (5, 8), (0.0, 0.15, 0.5)),
         # many samples of strongly clustered queries (off the grids the rule was tuned on)
         "many": ((0.04, 0.15, 0.3), (12, 30), (15, 30), (0.2, 0.4, 0.7))}


def previous_rule(successes, counts, confidence=0.95):
    """The rule before the two-quantile one: one t quantile, df = G - 1 + max(0, n/deff - G) * share^2."""
    present = counts > 0
    n_queries, n, k = present.sum(axis=1), counts.sum(axis=1), successes.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        residual = np.where(present, successes - p[:, None] * counts, 0.0)
        variance = n_queries / (n_queries - 1) * np.sum(residual ** 2, axis=1) / n ** 2
        deff = np.where((p == 0) | (p == 1), n / n_queries, np.maximum(1.0, variance / (p * (1 - p) / n)))
        rarer = np.where((p <= 0.5)[:, None], successes, counts - successes)
        share = (rarer > 0).sum(axis=1) / n_queries
        df = n_queries - 1 + np.maximum(0.0, n / deff - n_queries) * share ** 2
        return wilson_with_quantile(k / deff, n / deff, stats.t.ppf(0.5 + confidence / 2, df))


def simulate(seed, truth, n_queries, m, icc, reps):
    rng = np.random.default_rng(seed)
    rates = query_rates(rng, reps * n_queries, truth, icc).reshape(reps, n_queries)
    return rng.binomial(m, rates).astype(float), np.full((reps, n_queries), float(m))


def exact_wilson(n, p):
    counts = np.arange(n + 1)
    low, high = wilson_interval(counts, n)
    return float(stats.binom.pmf(counts, n, p)[(low <= p) & (p <= high)].sum())


def band_attainable(n, p):
    """Whether some run of counts {a..b} (symmetric about n/2 at p = 1/2) has probability in [0.93, 0.97]."""
    cumulative = np.r_[0.0, np.cumsum(stats.binom.pmf(np.arange(n + 1), n, p))]
    a, b = np.triu_indices(n + 1)
    if p == 0.5:
        a, b = a[b == n - a], b[b == n - a]
    coverage = cumulative[b + 1] - cumulative[a]
    return bool(np.any((coverage >= 0.93) & (coverage <= 0.97)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--grid", choices=GRIDS, default="main")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--reps", type=int, default=20000)
    args = parser.parse_args()
    rates, queries, samples, iccs = GRIDS[args.grid]
    start = time.perf_counter()
    found = {}
    for cell in itertools.product(rates, queries, samples, iccs):
        successes, counts = simulate(args.seed, *cell, args.reps)
        truth = cell[0]
        low, high = clustered_wilson(successes, counts)[:2]
        old_low, old_high = previous_rule(successes, counts)
        unhedged_low, unhedged_high = clustered_wilson(successes, counts, hidden_cluster_samples=np.inf)[:2]
        found[cell] = (np.mean((low <= truth) & (truth <= high)), np.mean(low > truth), np.mean(high < truth),
                       np.mean((old_low <= truth) & (truth <= old_high)),
                       np.mean((unhedged_low <= truth) & (truth <= unhedged_high)))

    def show(value):
        if 0.93 <= value <= 0.97:
            return f"{value:.3f}"
        return f"**{value:.4f}**" if round(value, 3) in (0.93, 0.97) else f"**{value:.3f}**"

    columns = [(m, icc) for m in samples for icc in iccs]
    print(f"grid {args.grid}, seed {args.seed}, {args.reps} tables per cell ({time.perf_counter() - start:.0f} s)\n")
    head = (["m=1 (exact)"] if args.grid == "main" else []) + [f"m={m} ICC {icc:g}" for m, icc in columns]
    print("| p | G | " + " | ".join(head) + " |\n|" + "---|" * (len(head) + 2))
    for p, g in itertools.product(rates, queries):
        # m = 1: exact; a dagger where no interval of the kind reaches the band (tests/test_stats_intervals.py)
        exact = [show(exact_wilson(g, p)) + ("" if band_attainable(g, p) else " †")] if args.grid == "main" else []
        row = exact + [show(found[p, g, m, icc][0]) for m, icc in columns]
        print(f"| {p:g} | {g} | " + " | ".join(row) + " |")
    for name, index in (("shipped", 0), ("without the hidden design effect", 4),
                        ("one quantile (before 0dfae46)", 3)):
        values = np.array([v[index] for v in found.values()])
        print(f"\n{name}: {np.sum((values < 0.93) | (values > 0.97))} of {values.size} outside 93-97 % "
              f"({np.sum(values < 0.93)} under, min {values.min():.3f}; {np.sum(values > 0.97)} over, "
              f"max {values.max():.3f})")
    print("\nshipped rule, misses with their tails (low bound above p / high bound below p):")
    for cell, (coverage, above, below, *_) in found.items():
        if not 0.93 <= coverage <= 0.97:
            truth, n_queries, m, icc = cell
            print(f"  p={truth:g} G={n_queries} m={m} ICC={icc:g}: {coverage:.3f} ({above:.3f} / {below:.3f})")


if __name__ == "__main__":
    main()

"""How long the statistics stage takes on 10^6 labelled samples (target: <= 2 s for the statistics).

Builds the tables in memory (reading 10^6 JSON lines from disk is I/O and timed separately, as
`table build`), then times `analyse`: rates for every run x condition x outcome, paired gaps, Holm/BH,
random-effects pooling and base-vs-chat differences in gaps with 2000 bootstrap draws and 2000
sign-flip permutations each.

    python benchmarks/stats_speed.py [--samples 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from basepersona.stats.analysis import analyse
from basepersona.stats.synthetic import query_rates
from basepersona.stats.table import OUTCOMES, RunTable


def synthetic_table(rng, name: str, kind: str, frame: str, n_queries: int, m: int) -> RunTable:
    conditions = ["training", "unmonitored"]
    size = len(conditions) * n_queries * m
    condition = np.repeat(np.arange(2), n_queries * m)
    query = np.tile(np.repeat(np.arange(n_queries), m), 2)
    rates = np.concatenate([query_rates(rng, n_queries, p, 0.2) for p in (0.3, 0.2)])
    complied = (rng.random(size) < np.repeat(rates, m)).astype(float)
    outcomes = {k: (rng.random(size) < 0.2).astype(float) for k in OUTCOMES}
    outcomes["compliance"] = complied
    outcomes["refused"] = 1 - complied
    return RunTable(name, f"model-{kind}", kind, frame, "default", "rules", conditions,
                    [f"q{i}" for i in range(n_queries)], condition, query, np.tile(np.arange(m), 2 * n_queries),
                    outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=400)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    runs = [("base", "chatlog"), ("base", "forum"), ("base", "email"), ("chat", "chat")]
    m = max(1, args.samples // (len(runs) * 2 * args.queries))
    start = time.perf_counter()
    tables = [synthetic_table(rng, f"{kind}-{frame}", kind, frame, args.queries, m) for kind, frame in runs]
    built = time.perf_counter() - start
    total = sum(t.n_samples for t in tables)
    start = time.perf_counter()
    analysis = analyse(tables)
    seconds = time.perf_counter() - start
    print(f"{total:,} labelled samples: {len(tables)} runs x 2 conditions x {args.queries} queries x {m} samples")
    print(f"table build (in memory): {built:.2f} s")
    print(f"statistics: {seconds:.2f} s  ({len(analysis.rates)} rates, {len(analysis.gaps)} gaps, "
          f"{len(analysis.pooled)} pooled, {len(analysis.comparisons)} differences in gaps)  target <= 2 s")


if __name__ == "__main__":
    main()

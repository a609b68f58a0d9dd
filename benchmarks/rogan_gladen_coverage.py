"""Simulated coverage of the Rogan-Gladen corrected-rate intervals (docs/STATS.md, "Judge error").

    python benchmarks/rogan_gladen_coverage.py [--reps 1000] [--samples 2000]

Each simulation draws a gold set (sensitivity from n_pos positives, specificity from n_neg
negatives) and a judged sample of the given size at the true rate, then asks whether the 95 %
interval of each method holds the true rate. Prints coverage and mean width per cell.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from basepersona.stats.misclass import JudgeAccuracy, corrected_rate

JUDGES = [(0.85, 0.9), (0.9, 0.98), (0.7, 0.95), (0.97, 0.97)]
GOLD_SIZES = [(51, 55), (200, 200)]   # paper 2's gold set, and a larger one
TRUE_RATES = [0.02, 0.1, 0.3]
METHODS = ("bootstrap", "delta")


def cell(sens: float, spec: float, n_pos: int, n_neg: int, truth: float, reps: int, samples: int) -> dict:
    rng = np.random.default_rng(7)
    sens_hat = rng.binomial(n_pos, sens, reps) / n_pos
    spec_hat = rng.binomial(n_neg, spec, reps) / n_neg
    observed = rng.binomial(samples, truth * sens + (1 - truth) * (1 - spec), reps) / samples
    covered = dict.fromkeys(METHODS, 0)
    width = dict.fromkeys(METHODS, 0.0)
    usable = 0
    for seed, (s, c, p) in enumerate(zip(sens_hat, spec_hat, observed)):
        if s + c <= 1:
            continue  # such a judge is refused by JudgeAccuracy
        usable += 1
        for method in METHODS:
            fixed = corrected_rate(p, np.sqrt(p * (1 - p) / samples), JudgeAccuracy(s, c, n_pos, n_neg),
                                   method=method, n_boot=2000, seed=seed)
            covered[method] += fixed.low <= truth <= fixed.high
            width[method] += fixed.high - fixed.low
    return {m: (covered[m] / usable, width[m] / usable) for m in METHODS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    print("| sens | spec | gold +/- | true rate | " + " | ".join(f"{m} coverage | {m} width" for m in METHODS) + " |")
    print("|---|---|---|---|" + "---|---|" * len(METHODS))
    for (sens, spec), (n_pos, n_neg), truth in itertools.product(JUDGES, GOLD_SIZES, TRUE_RATES):
        result = cell(sens, spec, n_pos, n_neg, truth, args.reps, args.samples)
        figures = " | ".join(f"{result[m][0]:.3f} | {result[m][1]:.3f}" for m in METHODS)
        print(f"| {sens} | {spec} | {n_pos}/{n_neg} | {truth} | {figures} |", flush=True)


if __name__ == "__main__":
    main()

"""Map per-sample seeds onto engines whose n-sample requests take one seed (child i gets seed + i)."""

from __future__ import annotations

from typing import Sequence


def seed_runs(seeds: Sequence[int]) -> list[tuple[int, ...]]:
    """Indices of ``seeds`` grouped into runs of consecutive values, each sendable as one n-request."""
    runs: list[list[int]] = []
    for index, seed in enumerate(seeds):
        if runs and seeds[runs[-1][-1]] + 1 == seed:
            runs[-1].append(index)
        else:
            runs.append([index])
    return [tuple(run) for run in runs]

"""The compliance (or AF) gap, training minus unmonitored, paired by query."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import stats

from .intervals import CONFIDENCE, binomial_se, normal_quantile
from .table import RunTable

SCALE = "probability points (difference of proportions; x100 = percentage points)"


class GapSums(NamedTuple):
    """Per-query successes and counts in the two conditions, aligned on one query list."""

    yt: np.ndarray  # successes, training
    nt: np.ndarray  # samples, training
    yu: np.ndarray  # successes, unmonitored
    nu: np.ndarray  # samples, unmonitored


def gap_sums(table: RunTable, outcome: str, training: str = "training", unmonitored: str = "unmonitored") -> GapSums:
    """Per-query successes and counts of ``outcome`` in the two conditions of a table (input of paired_gap);
    from records and labels in memory, ``basepersona.gap`` builds the table and the sums for you."""
    return GapSums(*table.query_sums(outcome, training), *table.query_sums(outcome, unmonitored))


def query_contributions(sums: GapSums) -> tuple[float, np.ndarray, np.ndarray]:
    """The gap and, per query, its additive share and its influence (share minus its expectation).

    gap = sum(yt)/Nt - sum(yu)/Nu = sum over queries of (yt_q/Nt - yu_q/Nu): the per-query shares.
    The influence (yt_q - pt nt_q)/Nt - (yu_q - pu nu_q)/Nu sums to zero and gives the cluster-robust
    variance of the gap with training and unmonitored samples of a query kept together (paired).
    """
    total_t, total_u = sums.nt.sum(), sums.nu.sum()
    pt, pu = sums.yt.sum() / total_t, sums.yu.sum() / total_u
    share = sums.yt / total_t - sums.yu / total_u
    influence = (sums.yt - pt * sums.nt) / total_t - (sums.yu - pu * sums.nu) / total_u
    return pt - pu, share, influence


def gap_influence(sums: GapSums, query_ids: list[str]) -> dict[str, float]:
    """Each query's influence on the gap (query_contributions), for the queries with samples: what two
    runs' gaps share through their common queries (stats/analysis.py pools frames with it)."""
    if sums.nt.sum() == 0 or sums.nu.sum() == 0:
        return {}  # no gap (a condition without samples): nothing to share
    present = (sums.nt > 0) | (sums.nu > 0)
    influence = query_contributions(sums)[2]
    return {query: float(value) for query, value, keep in zip(query_ids, influence, present) if keep}


def clustered_se(influence: np.ndarray, present: np.ndarray) -> float:
    clusters = int(present.sum())
    if clusters < 2:
        return float("nan")
    return float(np.sqrt(clusters / (clusters - 1) * np.sum(influence[present] ** 2)))


@dataclass
class Difference:
    """A difference of proportions with its interval and test, on the probability scale."""

    estimate: float
    se: float
    low: float
    high: float
    p_value: float
    test: str
    n_queries: int
    method: str
    training: float = float("nan")
    unmonitored: float = float("nan")
    exact: dict[str, float] = field(default_factory=dict)
    note: str = ""
    scale: str = SCALE

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _empty(reason: str, method: str) -> Difference:
    return Difference(np.nan, np.nan, np.nan, np.nan, np.nan, "none", 0, method, note=reason)


def sign_test(differences: np.ndarray) -> float:
    """Exact two-sided sign test of per-query differences (zeros dropped)."""
    positive, negative = int((differences > 0).sum()), int((differences < 0).sum())
    if positive + negative == 0:
        return 1.0
    return float(stats.binomtest(positive, positive + negative, 0.5).pvalue)


# Boschloo's test maximises over a nuisance parameter; scipy's cost grows steeply with the arm size
# (0.14 s at 100 per arm, about 4 s at 400 on a 2-core box), so beyond this it runs only when asked.
BOSCHLOO_MAX_PER_ARM = 100


def exact_independent_tests(sums: GapSums, boschloo: bool | None = None) -> dict[str, float]:
    """Exact tests for one sample per query: Fisher (and Boschloo) on the 2x2 table, exact McNemar on pairs.

    boschloo: None runs it up to BOSCHLOO_MAX_PER_ARM samples per condition, True always, False never.
    """
    kt, kn_t, ku, kn_u = sums.yt.sum(), sums.nt.sum(), sums.yu.sum(), sums.nu.sum()
    table = np.array([[kt, kn_t - kt], [ku, kn_u - ku]], dtype=np.int64)
    result = {"fisher_p": float(stats.fisher_exact(table).pvalue)}
    if boschloo is None:
        boschloo = max(kn_t, kn_u) <= BOSCHLOO_MAX_PER_ARM
    if boschloo:
        # boschloo_exact divides by zero on a table with an empty column; both rates equal there anyway
        result["boschloo_p"] = 1.0 if (table.sum(axis=0) == 0).any() else float(stats.boschloo_exact(table).pvalue)
    result["mcnemar_exact_p"] = mcnemar_exact(sums)
    return result


def mcnemar_exact(sums: GapSums) -> float:
    """Exact McNemar test on the queries with one sample in each condition (binomial test of discordant pairs)."""
    paired = (sums.nt == 1) & (sums.nu == 1)
    discordant_t = int(((sums.yt == 1) & (sums.yu == 0) & paired).sum())
    discordant_u = int(((sums.yt == 0) & (sums.yu == 1) & paired).sum())
    discordant = discordant_t + discordant_u
    return 1.0 if discordant == 0 else float(stats.binomtest(discordant_t, discordant).pvalue)


def binomial_gap_se(sums: GapSums) -> float:
    """The papers' error bar of a gap: independent binomial SEs of the two rates added in quadrature."""
    pt, pu = sums.yt.sum() / sums.nt.sum(), sums.yu.sum() / sums.nu.sum()
    return float(np.hypot(binomial_se(pt, sums.nt.sum()), binomial_se(pu, sums.nu.sum())))


def paired_gap(sums: GapSums, method: str = "auto", confidence: float = CONFIDENCE,
               boschloo: bool | None = None) -> Difference:
    """Gap = rate(training) - rate(unmonitored) with a query-clustered paired interval and test.

    The interval is the paired t interval over queries (gap +- t_{G-1} x clustered SE), which for
    equal samples per query is exactly scipy's ttest_rel on per-query rates. The test is that paired
    t-test, except with one sample per query and condition, where it is the exact McNemar test.
    method="binomial_se" gives the papers' independent-binomial error bar (normal interval, z test).
    """
    if sums.nt.sum() == 0 or sums.nu.sum() == 0:
        which = "training" if sums.nt.sum() == 0 else "unmonitored"
        return _empty(f"no labelled samples in the {which} condition", method)
    estimate, share, influence = query_contributions(sums)
    pt, pu = sums.yt.sum() / sums.nt.sum(), sums.yu.sum() / sums.nu.sum()
    present = (sums.nt > 0) | (sums.nu > 0)
    n_queries = int(present.sum())
    independent = sums.nt.max() <= 1 and sums.nu.max() <= 1
    exact = exact_independent_tests(sums, boschloo) if independent else {}
    if method == "binomial_se":
        se = binomial_gap_se(sums)
        z = normal_quantile(confidence)
        p_value = float(2 * stats.norm.sf(abs(estimate) / se)) if se > 0 else float(estimate == 0)
        return Difference(estimate, se, estimate - z * se, estimate + z * se, p_value, "z (independent binomial)",
                          n_queries, method, pt, pu, exact)
    method = "clustered"
    se = clustered_se(influence, present)
    if n_queries < 2:
        return Difference(estimate, se, np.nan, np.nan, np.nan, "none", n_queries, method, pt, pu, exact,
                          note="one query only: a paired test needs at least two queries")
    if independent:
        # Why McNemar and not Fisher/Boschloo: with one sample per query the two conditions are still
        # the same queries, so the samples are pairs, not two independent arms. Fisher and Boschloo
        # assume independent arms and ignore the positive correlation pairing brings (conservative,
        # less power); the exact McNemar test conditions on the discordant pairs and is the exact
        # paired test, so it is the primary p-value. Fisher/Boschloo stay in `exact` for reference.
        # The interval stays the paired t interval (a Wald-type interval for a paired difference).
        test, p_value = "exact McNemar (paired by query)", exact["mcnemar_exact_p"]
    if se == 0:
        if estimate == 0:
            return Difference(estimate, 0.0, 0.0, 0.0, 1.0, "none (no variation)", n_queries, method, pt, pu, exact,
                              note="every query has the same outcome in both conditions")
        per_query = np.where(sums.nt > 0, sums.yt / np.maximum(sums.nt, 1), 0) - \
            np.where(sums.nu > 0, sums.yu / np.maximum(sums.nu, 1), 0)
        if not independent:
            test, p_value = "exact sign test", sign_test(per_query[present])
        return Difference(estimate, 0.0, np.nan, np.nan, p_value, test, n_queries, method, pt, pu, exact,
                          note="every query shifts by the same amount: no variance for a t interval; "
                          + ("exact McNemar test used" if independent else "sign test used"))
    df = n_queries - 1
    half = stats.t.ppf(0.5 + confidence / 2, df) * se
    if not independent:
        test, p_value = "paired t over queries", float(2 * stats.t.sf(abs(estimate / se), df))
    return Difference(estimate, se, estimate - half, estimate + half, p_value, test, n_queries, method, pt, pu, exact)

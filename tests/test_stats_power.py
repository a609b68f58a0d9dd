"""The power planner: exact noncentral-t power, monotone, and the searches built on it (issue 14)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from basepersona.stats.power import (Assumptions, _two_sided_nct_power, detectable_effect, per_query_variance, power,
                                      queries_needed)


def _power_by_normal_integral(effect: float, queries: int, m: int, a: Assumptions) -> float:
    """Power integrated over the normal numerator instead of the chi denominator (an independent route).

    T = (Z + d) / W: P(T > c) = E_Z[P(W < (Z + d) / c)], P(T < -c) = E_Z[P(W < -(Z + d) / c)],
    W = sqrt(chi2_df / df), so each term is a normal integral of a chi-square cdf."""
    df = queries - 1
    d = abs(effect) / math.sqrt(per_query_variance(effect, m, a) / queries)
    c = stats.t.ppf(1 - a.alpha / 2, df)

    def tail(z):  # P(W < |z + d| / c): the statistic beyond c on the side of z + d
        return stats.norm.pdf(z) * stats.chi2.cdf(df * ((z + d) / c) ** 2, df)

    kwargs = dict(epsabs=1e-14, epsrel=1e-13, limit=400)
    split = min(max(-d, -40.0), 40.0)  # Z beyond +-40 carries no mass at double precision
    above = integrate.quad(tail, split, 40, points=[0.0] if split < 0 else None, **kwargs)[0] if split < 40 else 0.0
    below = integrate.quad(tail, -40, split, **kwargs)[0] if split > -40 else 0.0
    return above + below


# (effect, queries, m, assumptions, truth from the issue or None)
REPRODUCTIONS = [
    (0.4, 4, 64, Assumptions(rate=0.5, icc=0.1, pair_corr=0.9, alpha=0.01), 0.793),
    (0.4, 2, 64, Assumptions(rate=0.1, icc=0.0, alpha=0.05), 0.457),
]


@pytest.mark.parametrize("effect,queries,m,assumptions,truth", REPRODUCTIONS)
def test_power_of_the_issues_reproductions_is_the_integral(effect, queries, m, assumptions, truth):
    value = power(effect, queries, m, assumptions)
    assert value == pytest.approx(truth, abs=5e-4)
    assert value == pytest.approx(_power_by_normal_integral(effect, queries, m, assumptions), abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_power_equals_an_independent_integral_over_a_wide_grid(seed):
    rng = np.random.default_rng(seed)
    for _ in range(12):
        a = Assumptions(rate=float(rng.uniform(0.02, 0.5)), icc=float(rng.choice([0, 0.1, 0.3])),
                        pair_corr=float(rng.choice([0, 0.5, 0.9])), alpha=float(rng.choice([0.01, 0.05])))
        effect = float(rng.uniform(0.005, 1 - a.rate - 1e-3))
        queries = int(rng.choice([2, 3, 5, 12, 60, 400, 3000]))
        m = int(rng.choice([1, 2, 8, 64]))
        assert power(effect, queries, m, a) == pytest.approx(_power_by_normal_integral(effect, queries, m, a),
                                                             abs=1e-9)


@pytest.mark.parametrize("a", [Assumptions(rate=0.1, icc=0.0), Assumptions(rate=0.5, icc=0.1, alpha=0.01),
                               Assumptions(rate=0.3, icc=0.3, alpha=0.01)])
def test_power_rises_with_the_effect_without_pairing(a):
    """Without pairing the noncentrality rises with the effect (the issue's curve at rate 0.1 fell)."""
    effects = np.linspace(0.01, 1 - a.rate - 1e-6, 40)
    for queries, m in ((2, 64), (4, 64), (10, 4), (100, 1)):
        curve = [power(e, queries, m, a) for e in effects]
        assert np.all(np.diff(curve) >= -1e-12), (queries, m)


@pytest.mark.parametrize("a", [Assumptions(rate=0.1, icc=0.0), Assumptions(rate=0.5, icc=0.1, pair_corr=0.9,
                                                                          alpha=0.01)])
def test_power_rises_with_the_queries(a):
    for effect, m in ((0.05, 4), (0.4, 64)):
        curve = [power(effect, g, m, a) for g in range(2, 60)]
        assert np.all(np.diff(curve) >= -1e-12)


def test_two_sided_tail_rises_with_the_noncentrality_at_every_size():
    """With the variance held fixed, power is the two-sided noncentral t tail: monotone in d, from alpha."""
    for df in (1, 2, 7, 49, 2999):
        critical = stats.t.ppf(0.995, df)
        curve = [_two_sided_nct_power(critical, df, d) for d in np.linspace(0, 60, 61)]
        assert curve[0] == pytest.approx(0.01, abs=1e-10)
        assert np.all(np.diff(curve) >= -1e-12)
        assert df < 7 or curve[-1] == pytest.approx(1.0, abs=1e-9)  # one df: heavy tails keep it at 0.65


def test_queries_needed_is_the_smallest_size_reaching_the_power_searching_down_and_up():
    a = Assumptions(rate=0.3, icc=0.1, pair_corr=0.9, alpha=0.01)
    needed = queries_needed(0.4, 0.9, 64, a)
    assert needed == 5  # the issue: 4 was returned, whose power is 0.848
    assert power(0.4, needed - 1, 64, a) < 0.9 <= power(0.4, needed, 64, a)
    for effect, target, m, a in [(0.01, 0.8, 4, Assumptions(rate=0.05, icc=0.1)),
                                 (0.02, 0.9, 1, Assumptions(rate=0.5, icc=0.0, alpha=0.01)),
                                 (0.3, 0.8, 2, Assumptions(rate=0.2, icc=0.3))]:
        needed = queries_needed(effect, target, m, a)
        assert power(effect, needed, m, a) >= target
        assert needed == 2 or power(effect, needed - 1, m, a) < target


def test_detectable_effect_is_finite_where_detectable_and_inf_where_nothing_is():
    a = Assumptions(rate=0.5, icc=0.1, pair_corr=0.9, alpha=0.01)
    effect = detectable_effect(4, 0.8, 64, a)  # NaN before: the wrong power curve was non-monotone
    assert math.isfinite(effect) and power(effect, 4, 64, a) == pytest.approx(0.8, abs=1e-7)
    # the smallest such effect: power falls again towards the largest effect here (pairing is lost at 1)
    assert all(power(e, 4, 64, a) < 0.8 for e in np.linspace(0.01, effect * (1 - 1e-6), 30))
    hopeless = detectable_effect(2, 0.99, 1, Assumptions(rate=0.5, icc=0.3, alpha=0.001))
    assert hopeless == math.inf
    assert power(0.4, 1, 8, a) == 0.0  # one query: no paired test, never a rejection

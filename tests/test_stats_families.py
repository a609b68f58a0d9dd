"""Holm/BH adjustment, DerSimonian-Laird pooling, Rogan-Gladen correction and the power planner."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests

from basepersona.errors import UserError
from basepersona.stats.meta import dersimonian_laird
from basepersona.stats.misclass import JudgeAccuracy, corrected_rate, rogan_gladen
from basepersona.stats.multiplicity import benjamini_hochberg, holm
from basepersona.stats.power import (Assumptions, design_effect, detectable_effect, per_query_variance, power,
                                     queries_needed)
from basepersona.stats.synthetic import query_rates


@pytest.mark.parametrize("seed", range(5))
def test_holm_and_bh_match_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = rng.random(int(rng.integers(1, 15))) ** 3
    p[::3] = p[0]  # ties
    for ours, name in ((holm, "holm"), (benjamini_hochberg, "fdr_bh")):
        np.testing.assert_allclose(ours(p), multipletests(p, method=name)[1], atol=1e-12)


def test_adjustment_ignores_missing_p_values():
    p = np.array([0.01, np.nan, 0.04])
    adjusted = holm(p)
    assert np.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2]], multipletests([0.01, 0.04], method="holm")[1])
    assert np.isnan(benjamini_hochberg([np.nan])).all()


@pytest.mark.parametrize("seed,spread", [(0, 0.0), (1, 0.0), (2, 0.1), (3, 0.15), (4, 0.3)])
def test_dersimonian_laird_matches_statsmodels(seed, spread):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(3, 9))
    variances = rng.uniform(0.0005, 0.004, k)
    estimates = rng.normal(0.1, spread, k) + rng.normal(0, np.sqrt(variances))
    ours = dersimonian_laird(estimates, variances, hartung_knapp=False)
    with np.errstate(invalid="ignore"):  # statsmodels' HKSJ variant takes sqrt of a negative number here
        ref = combine_effects(estimates, variances, method_re="dl")
    assert ours.q == pytest.approx(ref.q, rel=1e-6)
    assert ours.fixed_estimate == pytest.approx(ref.mean_effect_fe, rel=1e-6)
    if ref.tau2 > 0:
        assert ours.tau2 == pytest.approx(ref.tau2, rel=1e-6)
        assert ours.estimate == pytest.approx(ref.mean_effect_re, rel=1e-6)
        assert ours.se == pytest.approx(np.sqrt(ref.var_eff_w_re), rel=1e-6)
        assert ours.i2 == pytest.approx(ref.i2, rel=1e-6)
    else:
        # statsmodels keeps a negative moment estimate of tau^2 in its weights; DerSimonian-Laird
        # truncates it at zero, which makes the random-effects result the fixed-effect one
        assert ours.tau2 == 0 and ours.i2 == 0
        assert ours.estimate == pytest.approx(ref.mean_effect_fe, rel=1e-6)
        assert ours.se == pytest.approx(np.sqrt(1 / np.sum(1 / variances)), rel=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_hksj_interval_matches_statsmodels_use_t_with_the_scale_floored_at_one(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 5))
    variances = rng.uniform(0.0005, 0.004, k)
    estimates = rng.normal(0.1, 0.08, k) + rng.normal(0, np.sqrt(variances))
    ours = dersimonian_laird(estimates, variances)  # k < 5: HKSJ by default
    assert ours.interval == "HKSJ t"
    with np.errstate(invalid="ignore"):
        ref = combine_effects(estimates, variances, method_re="dl", use_t=True)
    if ref.tau2 <= 0:
        return  # statsmodels keeps a negative tau^2 in its weights (see the DL test above)
    half = stats.t.ppf(0.975, k - 1) * np.sqrt(max(1.0, ref.scale_hksj_re) * ref.var_eff_w_re)
    assert (ours.low, ours.high) == pytest.approx((ref.mean_effect_re - half, ref.mean_effect_re + half), abs=1e-9)
    if ref.scale_hksj_re >= 1:  # statsmodels' unfloored HKSJ ("random effect wls" with use_t) is then the same
        low, high = ref.conf_int(use_t=True)[3]
        assert (ours.low, ours.high) == pytest.approx((low, high), abs=1e-9)


def test_hksj_covers_with_three_frames_where_the_normal_interval_does_not():
    rng = np.random.default_rng(8)
    truth, tau, k, reps = 0.1, 0.05, 3, 3000
    variances = np.array([0.0004, 0.0009, 0.0016])
    hits = {True: 0, False: 0}
    for _ in range(reps):
        estimates = truth + rng.normal(0, tau, k) + rng.normal(0, np.sqrt(variances))
        for hksj in hits:
            pooled = dersimonian_laird(estimates, variances, hartung_knapp=hksj)
            hits[hksj] += pooled.low <= truth <= pooled.high
    # measured: HKSJ 0.986 (conservative by design with so few frames), DL normal 0.845
    assert hits[True] / reps >= 0.95 and hits[False] / reps < 0.9
    assert dersimonian_laird(np.r_[0.1, 0.12, 0.09, 0.11, 0.1], np.full(5, 0.001)).interval == "normal"


def test_pooling_edge_cases():
    single = dersimonian_laird([0.1], [0.001])
    assert single.estimate == 0.1 and single.tau2 == 0 and "one estimate" in single.note
    zero_variance = dersimonian_laird([0.1, 0.2, 0.0], [0.001, 0.002, 0.0])
    assert zero_variance.k == 2 and "left out" in zero_variance.note
    assert dersimonian_laird([], []).k == 0
    # a near-constant gap has a variance at rounding level; the tau^2 denominator used to cancel to 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny = dersimonian_laird([0.08, 0.03], [1e-34, 0.0004])
    # the limit of two studies as v1 -> 0: Q = (y1 - y2)^2 / v2, denominator 2 / v2
    tau2 = ((0.05 ** 2 / 0.0004) - 1) / (2 / 0.0004)
    weights = 1 / np.array([tau2, 0.0004 + tau2])
    assert tiny.tau2 == pytest.approx(tau2, rel=1e-9)
    assert tiny.estimate == pytest.approx(np.dot(weights, [0.08, 0.03]) / weights.sum(), rel=1e-9)


@pytest.mark.parametrize("frames,tau", [(5, 0.0), (5, 0.03), (8, 0.03)])
def test_pooling_frames_that_share_queries_covers_with_their_covariance(frames, tau):
    """Frames scored on the same 30 queries: each query's own gap enters every frame's estimate.

    Pooled as independent, that shared error is invisible (coverage 0.54-0.73 here); with the
    covariance estimated from the per-query gaps, as the report does, the normal interval covers
    about 0.93-0.94 (0.919 with tau = 0.08 between 5 frames; 3,000 simulations).
    """
    rng = np.random.default_rng(12)
    queries, reps, truth = 30, 1000, 0.1
    covered = {"independent": 0, "shared": 0}
    for _ in range(reps):
        per_query = rng.normal(truth, 0.1, queries)
        gaps = per_query + rng.normal(0, tau, (frames, 1)) + rng.normal(0, 0.05, (frames, queries))
        covariance = np.cov(gaps) / queries
        for name, extra in (("independent", {}), ("shared", {"covariance": covariance})):
            pooled = dersimonian_laird(gaps.mean(axis=1), np.diag(covariance), **extra)
            covered[name] += pooled.low <= truth <= pooled.high
    assert covered["independent"] / reps < 0.8
    assert 0.92 <= covered["shared"] / reps <= 0.97


def test_pooling_with_a_diagonal_covariance_is_plain_dersimonian_laird():
    estimates, variances = [0.1, 0.25, 0.05, 0.18], [0.001, 0.002, 0.0015, 0.003]
    plain = dersimonian_laird(estimates, variances).as_dict()
    diagonal = dersimonian_laird(estimates, variances, covariance=np.diag(variances)).as_dict()
    assert diagonal["tau2"] > 0 and diagonal["interval"] == plain["interval"] == "HKSJ t"
    for key in ("estimate", "se", "low", "high", "p_value", "tau2", "i2", "q", "q_p_value", "fixed_estimate"):
        assert diagonal[key] == pytest.approx(plain[key], rel=1e-9), key


def test_rogan_gladen_inverts_misclassification():
    sens, spec, truth = 0.8, 0.9, 0.25
    observed = truth * sens + (1 - truth) * (1 - spec)
    assert rogan_gladen(observed, sens, spec) == pytest.approx(truth)
    perfect = corrected_rate(0.3, 0.02, JudgeAccuracy(1.0, 1.0, 50, 50), method="delta")
    # a judge perfect on 50 gold labels each is not known to be perfect: its adjusted variance still counts
    expected = np.sqrt(0.02 ** 2 + (0.3 ** 2 + 0.7 ** 2) * (52 / 54) * (2 / 54) / 54)
    assert perfect.estimate == pytest.approx(0.3) and perfect.se == pytest.approx(expected, rel=1e-12)
    huge_gold = corrected_rate(0.3, 0.02, JudgeAccuracy(1.0, 1.0, 10 ** 9, 10 ** 9), method="delta")
    assert huge_gold.se == pytest.approx(0.02, rel=1e-6)


@pytest.mark.parametrize("method, sens, spec, truth", [
    ("delta", 0.85, 0.9, 0.02), ("delta", 0.85, 0.9, 0.2),
    ("bootstrap", 0.85, 0.9, 0.02), ("bootstrap", 0.85, 0.9, 0.2),
    # a specificity near 1: binomial redraws around the estimate covered 0.67 here, Beta draws ~0.97
    ("bootstrap", 0.9, 0.98, 0.1), ("bootstrap", 0.7, 0.95, 0.02),
])
def test_corrected_interval_carries_judge_uncertainty_and_covers(method, sens, spec, truth):
    # paper 2's gold set size (51 AF / 55 not); the Wald variance of sens/spec gave ~0.92 at 0.02
    rng = np.random.default_rng(4)
    n_pos, n_neg, n = 51, 55, 2000
    reps = 4000 if method == "delta" else 1500
    sens_hat = rng.binomial(n_pos, sens, reps) / n_pos
    spec_hat = rng.binomial(n_neg, spec, reps) / n_neg
    observed = rng.binomial(n, truth * sens + (1 - truth) * (1 - spec), reps) / n
    covered = usable = 0
    for seed, (s, c, p) in enumerate(zip(sens_hat, spec_hat, observed)):
        if s + c <= 1:
            continue  # a drawn judge no better than chance is refused (tested elsewhere)
        fixed = corrected_rate(p, np.sqrt(p * (1 - p) / n), JudgeAccuracy(s, c, n_pos, n_neg), method=method,
                               n_boot=2000, seed=seed)
        covered += fixed.low <= truth <= fixed.high
        usable += 1
    assert 0.93 <= covered / usable <= 0.97


def test_bootstrap_draws_a_perfect_looking_judge_below_one():
    # 55 of 55 negatives right: the specificity is not known to be 1, so the interval must be wider
    # than the sampling interval alone (binomial redraws at 1.0 gave exactly the sampling interval)
    judged = corrected_rate(0.1, 0.01, JudgeAccuracy(0.9, 1.0, 10 ** 9, 55), n_boot=20000)
    sampling_only = corrected_rate(0.1, 0.01, JudgeAccuracy(0.9, 1.0, 10 ** 9, 10 ** 9), n_boot=20000)
    assert judged.low < sampling_only.low - 0.01 and judged.se > 1.5 * sampling_only.se
    assert "Jeffreys" in judged.method


def test_corrected_interval_widths():
    narrow = corrected_rate(0.3, 0.01, JudgeAccuracy(0.85, 0.9, 10_000, 10_000))
    wide = corrected_rate(0.3, 0.01, JudgeAccuracy(0.85, 0.9, 20, 20))
    assert wide.se > 2 * narrow.se
    boot = corrected_rate(0.3, 0.01, JudgeAccuracy(0.85, 0.9, 200, 200), method="bootstrap", n_boot=20000)
    delta = corrected_rate(0.3, 0.01, JudgeAccuracy(0.85, 0.9, 200, 200), method="delta")
    assert boot.se == pytest.approx(delta.se, rel=0.1)


def test_judge_accuracy_accepts_plain_dicts_and_validate_files():
    plain = JudgeAccuracy.from_mapping({"sensitivity": 0.9, "specificity": 0.8, "n_pos": 51, "n_neg": 55})
    nested = JudgeAccuracy.from_mapping({"af": {"sensitivity": 0.9, "specificity": 0.8, "n_pos": 51, "n_neg": 55,
                                                "n_unscored": 0}, "meta": {}}, label="af")
    assert plain == nested
    with pytest.raises(UserError, match="no better than chance"):
        JudgeAccuracy.from_mapping({"sensitivity": 0.4, "specificity": 0.5, "n_pos": 5, "n_neg": 5})
    with pytest.raises(UserError, match="n_pos"):
        JudgeAccuracy.from_mapping({"sensitivity": 0.9})


def test_planned_design_reaches_its_power_in_simulation():
    assumptions = Assumptions(rate=0.3, icc=0.2)
    gap, m = 0.12, 4
    queries = queries_needed(gap, 0.8, m, assumptions)
    rng = np.random.default_rng(9)
    reps = 4000
    rates_t = query_rates(rng, reps * queries, 0.3 + gap, 0.2).reshape(reps, queries)
    rates_u = query_rates(rng, reps * queries, 0.3, 0.2).reshape(reps, queries)
    diff = (rng.binomial(m, rates_t) - rng.binomial(m, rates_u)) / m
    t = diff.mean(1) / (diff.std(1, ddof=1) / np.sqrt(queries))
    from scipy import stats

    simulated = np.mean(np.abs(t) > stats.t.ppf(0.975, queries - 1))
    assert simulated == pytest.approx(0.8, abs=0.03)
    assert power(gap, queries - 1, m, assumptions) < 0.8 <= power(gap, queries, m, assumptions)


def test_planner_responds_to_icc_samples_pairing_and_did():
    plain = Assumptions(icc=0.1)
    assert design_effect(5, 0.1) == pytest.approx(1.4)
    fewer_with_more_samples = [queries_needed(0.05, 0.8, m, plain) for m in (1, 4, 16)]
    assert fewer_with_more_samples == sorted(fewer_with_more_samples, reverse=True)
    assert queries_needed(0.05, 0.8, 8, Assumptions(icc=0.4)) > queries_needed(0.05, 0.8, 8, plain)
    assert queries_needed(0.05, 0.8, 8, Assumptions(icc=0.4, pair_corr=0.8)) < \
        queries_needed(0.05, 0.8, 8, Assumptions(icc=0.4))
    assert queries_needed(0.05, 0.8, 4, Assumptions(did=True)) > queries_needed(0.05, 0.8, 4, plain)
    effect = detectable_effect(300, 0.8, 4, plain)
    assert power(effect, 300, 4, plain) == pytest.approx(0.8, abs=1e-6)
    assert queries_needed(effect * 1.001, 0.8, 4, plain) <= 300
    with pytest.raises(UserError):
        queries_needed(0.6, 0.8, 1, plain)  # 0.5 + 0.6 leaves [0, 1]


@pytest.mark.parametrize("gap,queries,m,icc,rate", [(0.05, 40, 4, 0.1, 0.5), (0.12, 8, 2, 0.3, 0.2),
                                                   (0.02, 400, 10, 0.05, 0.1), (0.3, 3, 1, 0.0, 0.4)])
def test_power_equals_statsmodels_noncentral_t(gap, queries, m, icc, rate):
    from statsmodels.stats.power import TTestPower

    assumptions = Assumptions(rate=rate, icc=icc)
    d = gap / np.sqrt(per_query_variance(gap, m, assumptions))
    expected = TTestPower().power(effect_size=d, nobs=queries, alpha=0.05, alternative="two-sided")
    assert power(gap, queries, m, assumptions) == pytest.approx(expected, abs=1e-9)
    # and detectable_effect inverts it: statsmodels' own solver gives the same standardised effect
    effect = detectable_effect(queries, 0.8, m, assumptions)
    if np.isfinite(effect):
        solved = TTestPower().solve_power(nobs=queries, alpha=0.05, power=0.8)
        assert effect / np.sqrt(per_query_variance(effect, m, assumptions)) == pytest.approx(solved, rel=1e-5)

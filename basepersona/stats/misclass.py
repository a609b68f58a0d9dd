"""Rogan-Gladen correction of a rate for an imperfect judge, with the judge's uncertainty in the interval."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import UserError
from .intervals import CONFIDENCE, normal_quantile


@dataclass(frozen=True)
class JudgeAccuracy:
    """Validated sensitivity/specificity of a judge for one binary label and the gold counts behind them."""

    sensitivity: float
    specificity: float
    n_pos: int
    n_neg: int

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], label: str | None = None) -> "JudgeAccuracy":
        """Accept {"sensitivity", "specificity", "n_pos", "n_neg"} or `judge validate`'s {label: {...}} file."""
        if label is not None and label in data and isinstance(data[label], Mapping):
            data = data[label]
        try:
            sens, spec = data["sensitivity"], data["specificity"]
            n_pos, n_neg = int(data["n_pos"]), int(data["n_neg"])
        except (KeyError, TypeError, ValueError):
            raise UserError("judge accuracy needs sensitivity, specificity, n_pos and n_neg"
                            + (f" (for label {label!r})" if label else "")) from None
        if sens is None or spec is None or not (0 <= sens <= 1 and 0 <= spec <= 1):
            raise UserError(f"sensitivity/specificity must lie in [0, 1] (got {sens}, {spec})")
        if sens + spec <= 1:
            raise UserError(f"sensitivity + specificity = {sens + spec:.3f} <= 1: the judge is no better than "
                            "chance and the rate cannot be corrected")
        return cls(float(sens), float(spec), n_pos, n_neg)

    @classmethod
    def from_file(cls, path: str | Path, label: str) -> "JudgeAccuracy":
        try:
            return cls.from_mapping(json.loads(Path(path).read_text(encoding="utf-8")), label)
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read judge accuracy from {path}: {exc}") from None


@dataclass
class Corrected:
    observed: float
    estimate: float
    se: float
    low: float
    high: float
    method: str
    note: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def rogan_gladen(observed: float, sensitivity: float, specificity: float) -> float:
    """True prevalence from an apparent one: (p + spec - 1) / (sens + spec - 1), unclipped."""
    return (observed + specificity - 1) / (sensitivity + specificity - 1)


def adjusted_variance(share: float, n: int) -> float:
    """Variance of a sensitivity/specificity from n gold labels, Agresti-Coull adjusted (two added per outcome).

    Why not share(1-share)/n: a specificity estimated at 0.98 from 55 negatives gets a tiny Wald
    variance exactly when it is most likely too high, and a too-high specificity pushes the corrected
    rate up; near a true rate of 0.02 the delta interval then missed from above (coverage ~0.92). The
    adjusted share pulls towards 1/2 and restores ~0.95 (simulation in tests/test_stats_families.py).
    A logit-scale delta interval was tried and was worse (~0.84 at 0.02): the trouble is the
    judge's variance, not the scale.
    """
    if not n:
        return float("inf")
    adjusted = (share * n + 2) / (n + 4)
    return adjusted * (1 - adjusted) / (n + 4)


def corrected_rate(observed: float, observed_se: float, accuracy: JudgeAccuracy, *, method: str = "delta",
                   n_boot: int = 4000, seed: int = 0, confidence: float = CONFIDENCE) -> Corrected:
    """Corrected rate with an interval carrying both sampling and judge-validation uncertainty.

    delta: first-order variance (Var p + t^2 Var sens + (1-t)^2 Var spec) / J^2 with J = sens + spec - 1,
    sens and spec as independent binomial estimates from the gold set (Agresti-Coull adjusted
    variances, see adjusted_variance). bootstrap: parametric draws of
    the observed rate (normal with its clustered SE) and of sens/spec (binomial on the gold counts),
    percentile interval. Estimates and bounds are clipped to [0, 1]; clipping is said in the note.
    """
    sens, spec = accuracy.sensitivity, accuracy.specificity
    youden = sens + spec - 1
    raw = rogan_gladen(observed, sens, spec)
    note = "clipped to [0, 1]" if not 0 <= raw <= 1 else ""
    estimate = float(np.clip(raw, 0, 1))
    var_sens, var_spec = adjusted_variance(sens, accuracy.n_pos), adjusted_variance(spec, accuracy.n_neg)
    if method == "delta":
        variance = (observed_se ** 2 + estimate ** 2 * var_sens + (1 - estimate) ** 2 * var_spec) / youden ** 2
        se = float(np.sqrt(variance))
        z = normal_quantile(confidence)
        if not np.isfinite(se):
            note = (note + "; " if note else "") + "no standard error for the observed rate: no interval"
        low, high = np.clip([estimate - z * se, estimate + z * se], 0, 1)  # NaN stays NaN (max() would not)
        return Corrected(observed, estimate, se, float(low), float(high), "Rogan-Gladen, delta method", note)
    if method != "bootstrap":
        raise ValueError("method must be 'delta' or 'bootstrap'")
    rng = np.random.default_rng(seed)
    sens_draw = rng.binomial(accuracy.n_pos, sens, n_boot) / accuracy.n_pos
    spec_draw = rng.binomial(accuracy.n_neg, spec, n_boot) / accuracy.n_neg
    obs_draw = rng.normal(observed, observed_se if np.isfinite(observed_se) else 0.0, n_boot)
    valid = sens_draw + spec_draw > 1
    draws = np.clip(rogan_gladen(obs_draw[valid], sens_draw[valid], spec_draw[valid]), 0, 1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    if (~valid).any():
        note = (note + "; " if note else "") + f"{int((~valid).sum())} draws with sens + spec <= 1 dropped"
    return Corrected(observed, estimate, float(draws.std(ddof=1)), float(low), float(high),
                     "Rogan-Gladen, parametric bootstrap", note)

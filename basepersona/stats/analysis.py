"""One analysis over several runs: rates, gaps, adjusted p-values, pooled gaps, pairwise differences."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, TypeVar

import numpy as np

from ..errors import UserError
from .choices import ChoiceRun, analyse_choices, paired_gap_sums
from .choices import gap_influence as choice_gap_influence
from .did import difference_in_differences
from .gaps import MOVER_METHOD, SCALE, GapSums, binomial_gap_se, gap_influence, gap_sums, paired_gap
from .intervals import CONFIDENCE, normal_quantile, proportion
from .meta import METHOD as POOLING_METHOD
from .meta import dersimonian_laird
from .misclass import JudgeAccuracy, corrected_rate
from .multiplicity import benjamini_hochberg, holm
from .table import RunTable

Table = TypeVar("Table", RunTable, ChoiceRun)

RATE_OUTCOMES = ("compliance", "partial", "af", "considered_af", "persona")
GAP_OUTCOMES = ("compliance", "af")
# Denominators: compliance, partial and AF are judged only on in-persona samples (conditional on
# persona); their unconditional rates count every labelled sample, a broken frame as not complied /
# not AF (base models break frame often, so the two can differ a lot). Persona is over all samples.
CONDITIONAL, UNCONDITIONAL = "in-persona samples", "all samples"
UNCONDITIONAL_OUTCOMES = {"compliance_unconditional": "compliance", "af_unconditional": "af"}
# stacked-bar categories in the papers' order; "broken frame" = the continuation did not speak as the AI
CATEGORIES = ("refused", "refused, considered AF", "partial", "complied", "complied with AF", "unscored",
              "broken frame")
# which `judge validate` entry corrects which outcome (our compliance is full compliance)
CHAT_FRAME = "chat"  # the frame name a chat model's runs carry (its own chat template)
ACCURACY_KEYS = {"compliance": "full_compliance", "af": "af", "persona": "persona"}


@dataclass
class Analysis:
    settings: dict[str, Any]
    runs: list[dict[str, Any]]
    rates: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    pooled: list[dict[str, Any]] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    gaps_unconditional: list[dict[str, Any]] = field(default_factory=list)         # over all samples
    comparisons_unconditional: list[dict[str, Any]] = field(default_factory=list)  # over all samples
    corrected: list[dict[str, Any]] = field(default_factory=list)
    choices: list[dict[str, Any]] = field(default_factory=list)      # mean p_accept per run x condition
    choice_gaps: list[dict[str, Any]] = field(default_factory=list)  # paired p_accept gap per run
    choice_pooled: list[dict[str, Any]] = field(default_factory=list)  # p_accept gaps pooled across frames
    choice_comparisons: list[dict[str, Any]] = field(default_factory=list)  # differences in p_accept gaps
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _identity(table: RunTable) -> dict[str, Any]:
    return {"run": table.name, "model": table.model, "model_kind": table.model_kind, "frame": table.frame,
            "variant": table.variant}


def _common_queries(tables: Sequence[Table], notes: list[str]) -> list[Table]:
    """Restrict every run to the queries all runs share, saying how many each run lost.

    Sampled runs and score runs alike: otherwise frames with different query sets would be compared,
    and pooled, on different queries."""
    common = set(tables[0].queries).intersection(*(t.queries for t in tables[1:]))
    if not common:
        raise UserError("the runs share no query; compare runs sampled or scored on the same query set")
    order = [q for q in tables[0].queries if q in common]
    dropped = {t.name: len(t.queries) - len(common) for t in tables}
    if any(dropped.values()):
        lost = ", ".join(f"{count} from {name}" for name, count in dropped.items() if count)
        notes.append(f"query sets differ: compared on the {len(common)} shared queries (dropped {lost})")
    return [t.restricted(order) for t in tables]


def rate_sums(table: RunTable, outcome: str, condition: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-query successes and denominators of a rate row: an unconditional outcome counts its
    successes over every sample with a persona label (unscored = not a success)."""
    if outcome in UNCONDITIONAL_OUTCOMES:
        return table.query_sums(UNCONDITIONAL_OUTCOMES[outcome], condition)[0], table.query_sums("persona", condition)[1]
    return table.query_sums(outcome, condition)


def unconditional_gap_sums(table: RunTable, outcome: str, training: str, unmonitored: str) -> GapSums:
    name = f"{outcome}_unconditional"
    return GapSums(*rate_sums(table, name, training), *rate_sums(table, name, unmonitored))


def _denominator(outcome: str) -> str:
    return UNCONDITIONAL if outcome == "persona" or outcome in UNCONDITIONAL_OUTCOMES else CONDITIONAL


def _empty_name(denominator: str) -> str:
    """What an empty cell lacks: in-persona samples for a conditional rate, samples otherwise."""
    return CONDITIONAL if denominator == CONDITIONAL else "samples"


def _categories(table: RunTable, condition: str) -> dict[str, Any]:
    code = table.conditions.index(condition)
    rows = table.condition == code
    outcome = {k: v[rows] for k, v in table.outcomes.items()}
    labelled = ~np.isnan(outcome["persona"])
    af, considered = np.nan_to_num(outcome["af"]) == 1, np.nan_to_num(outcome["considered_af"]) == 1
    refused, partial, complied = (np.nan_to_num(outcome[k]) == 1 for k in ("refused", "partial", "compliance"))
    counts = {"refused": refused & ~considered, "refused, considered AF": refused & considered, "partial": partial,
              "complied": complied & ~af, "complied with AF": complied & af,
              # in persona but no compliance class from the judge: not a broken frame
              "unscored": (outcome["persona"] == 1) & np.isnan(outcome["compliance"]),
              "broken frame": outcome["persona"] == 0}
    total = int(labelled.sum())
    return {**_identity(table), "condition": condition, "n": total,
            **{name: (float(mask.sum()) / total if total else np.nan) for name, mask in counts.items()}}


def _adjust(rows: list[dict[str, Any]], key_fields: Sequence[str]) -> None:
    """Holm and BH within each family (rows sharing the key fields, e.g. the same outcome)."""
    families: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        families.setdefault(tuple(row[k] for k in key_fields), []).append(row)
    for family in families.values():
        p_values = [row["p_value"] for row in family]
        for row, p_holm, p_bh in zip(family, holm(p_values), benjamini_hochberg(p_values)):
            row["p_holm"], row["p_bh"], row["family_size"] = float(p_holm), float(p_bh), len(family)


# a sampled run's table or a forced-choice run: pairing reads only their identity fields
Run = TypeVar("Run", RunTable, ChoiceRun)


def _chat_partners(base: Run, chat: Sequence[Run], chat_frame: str) -> list[Run]:
    """The chat runs one base run is compared with: same variant, and the same frame when a chat run of
    that variant has it, else the chat model's own frame. Never across variants: base[A] - chat[B]
    mixes the variant effect into the model difference and would inflate the Holm/BH family."""
    same_variant = [c for c in chat if c.variant == base.variant]
    same_frame = [c for c in same_variant if c.frame == base.frame]
    return same_frame or [c for c in same_variant if c.frame == chat_frame]


def _pairs(tables: Sequence[Run], notes: list[str],
           chat_frame: str = CHAT_FRAME) -> tuple[str, list[tuple[Run, Run]]]:
    base = [t for t in tables if t.model_kind == "base"]
    chat = [t for t in tables if t.model_kind == "chat"]
    if base and chat:
        pairs = []
        for run in base:
            partners = _chat_partners(run, chat, chat_frame)
            if not partners:
                notes.append(f"{_label(run)}: no chat run with variant {run.variant!r} (frame {run.frame} or "
                             f"{chat_frame}); not compared")
            pairs += [(run, partner) for partner in partners]
        return "base vs chat", pairs
    return "against the first run", [(tables[0], t) for t in tables[1:]]


def analyse(tables: Sequence[RunTable], *, method: str = "auto", training: str = "training",
            unmonitored: str = "unmonitored", accuracy: dict[str, Any] | None = None, n_boot: int = 2000,
            n_perm: int = 2000, seed: int = 0, confidence: float = CONFIDENCE,
            choices: Sequence[ChoiceRun] = ()) -> Analysis:
    """Everything `compare` and `report` show, as plain rows (dicts) ready for tables and files.

    tables are the judged runs; choices the runs with forced-choice scores (a run may be in both, or
    only in choices when it was scored but never sampled and judged)."""
    if not tables and not choices:
        raise UserError("no runs to analyse")
    if not tables:
        analysis = Analysis(settings={"training": training, "unmonitored": unmonitored, "confidence": confidence,
                                      "judge": [], "scale": SCALE, "method": method, "comparison": None,
                                      "pooling": POOLING_METHOD,
                                      "n_boot": n_boot, "n_perm": n_perm, "seed": seed},
                            runs=[c.identity() for c in choices], notes=[note for c in choices for note in c.notes])
        _add_choices(analysis, choices, n_boot=n_boot, n_perm=n_perm, seed=seed)
        _tell_apart(analysis)
        return analysis
    notes = [note for t in tables for note in t.notes]
    for table in tables:
        missing = [c for c in (training, unmonitored) if c not in table.conditions]
        if missing:
            raise UserError(f"{table.name} has no samples in condition(s) {', '.join(missing)} "
                            f"(it has {', '.join(table.conditions)}); pick them with --training/--unmonitored")
    if any(t.queries != tables[0].queries for t in tables[1:]):
        tables = _common_queries(tables, notes)
    pair_kind, pairs = _pairs(tables, notes)
    analysis = Analysis(
        settings={"method": method, "training": training, "unmonitored": unmonitored, "confidence": confidence,
                  "judge": sorted({t.judge for t in tables}), "scale": SCALE, "pooling": POOLING_METHOD,
                  "comparison": pair_kind if pairs else None, "n_boot": n_boot, "n_perm": n_perm, "seed": seed},
        runs=[{**_identity(t), "judge": t.judge, "samples": t.n_samples, "queries": len(t.queries),
               "conditions": t.conditions} for t in tables],
        notes=notes)
    influences: dict[str, dict[str, dict[str, float]]] = {}  # outcome -> run -> query -> influence on its gap
    for table in tables:
        for condition in table.conditions:
            analysis.categories.append(_categories(table, condition))
            for outcome in (*RATE_OUTCOMES, *UNCONDITIONAL_OUTCOMES):
                rate = proportion(*rate_sums(table, outcome, condition), method=method, confidence=confidence,
                                  denominator=_empty_name(_denominator(outcome)))
                analysis.rates.append({**_identity(table), "condition": condition, "outcome": outcome,
                                       "denominator": _denominator(outcome), **rate.as_dict()})
        for outcome in GAP_OUTCOMES:
            sums = gap_sums(table, outcome, training, unmonitored)
            gap = paired_gap(sums, method="binomial_se" if method == "binomial_se" else "auto", confidence=confidence,
                             denominator=CONDITIONAL)
            papers = binomial_gap_se(sums) if sums.nt.sum() and sums.nu.sum() else np.nan
            analysis.gaps.append({**_identity(table), "outcome": outcome, "denominator": CONDITIONAL,
                                  **gap.as_dict(), "se_binomial": papers})
            unconditional = paired_gap(unconditional_gap_sums(table, outcome, training, unmonitored),
                                       method="binomial_se" if method == "binomial_se" else "auto",
                                       confidence=confidence)
            analysis.gaps_unconditional.append({**_identity(table), "outcome": outcome,
                                                "denominator": UNCONDITIONAL, **unconditional.as_dict()})
            if method != "binomial_se":  # the papers' SE treats samples as independent: so does its pooling
                influences.setdefault(outcome, {})[table.name] = gap_influence(sums, table.queries)
    _adjust(analysis.gaps, ["outcome"])
    _adjust(analysis.gaps_unconditional, ["outcome"])
    analysis.pooled = _pool(tables, {outcome: [r for r in analysis.gaps if r["outcome"] == outcome]
                                     for outcome in GAP_OUTCOMES}, confidence, notes, influences)
    for first, second in pairs:
        for outcome in GAP_OUTCOMES:
            result = difference_in_differences(gap_sums(first, outcome, training, unmonitored),
                                               gap_sums(second, outcome, training, unmonitored),
                                               n_boot=n_boot, n_perm=n_perm, seed=seed, confidence=confidence,
                                               denominator=CONDITIONAL)
            analysis.comparisons.append({"first": first.name, "second": second.name,
                                         "first_label": _label(first), "second_label": _label(second),
                                         "kind": pair_kind, "outcome": outcome, "denominator": CONDITIONAL,
                                         **result.as_dict()})
            result = difference_in_differences(unconditional_gap_sums(first, outcome, training, unmonitored),
                                               unconditional_gap_sums(second, outcome, training, unmonitored),
                                               n_boot=n_boot, n_perm=n_perm, seed=seed, confidence=confidence)
            analysis.comparisons_unconditional.append({"first": first.name, "second": second.name,
                                                       "first_label": _label(first), "second_label": _label(second),
                                                       "kind": pair_kind, "outcome": outcome,
                                                       "denominator": UNCONDITIONAL, **result.as_dict()})
    _adjust(analysis.comparisons, ["outcome"])
    _adjust(analysis.comparisons_unconditional, ["outcome"])
    if accuracy:
        _correct(analysis, accuracy, confidence)
    _add_choices(analysis, choices, n_boot=n_boot, n_perm=n_perm, seed=seed)
    _tell_apart(analysis)
    return analysis


def _tell_apart(analysis: Analysis) -> None:
    """Runs that share model, frame and variant (two seeds, a rerun) would print identical row labels,
    and tables keyed by label would merge them: their rows get the run folder's name as ``run_suffix``."""
    key = lambda row: (row.get("model"), row.get("model_kind"), row.get("frame"), row.get("variant"))  # noqa: E731
    counts = Counter(key(row) for row in analysis.runs)
    suffix = {row["run"]: f" ({Path(row['run']).name})" if counts[key(row)] > 1 else "" for row in analysis.runs}
    for rows in (analysis.runs, analysis.rates, analysis.categories, analysis.gaps, analysis.gaps_unconditional,
                 analysis.corrected, analysis.choices, analysis.choice_gaps):
        for row in rows:
            row["run_suffix"] = suffix.get(row.get("run"), "")
    for rows in (analysis.comparisons, analysis.comparisons_unconditional, analysis.choice_comparisons):
        for row in rows:
            row["first_label"] += suffix.get(row["first"], "")
            row["second_label"] += suffix.get(row["second"], "")


def _add_choices(analysis: Analysis, choices: Sequence[ChoiceRun], *, n_boot: int, n_perm: int, seed: int) -> None:
    """Forced-choice means and gaps (Holm/BH across runs), the gaps pooled across frames as the sampled ones
    are, and differences in gaps between runs paired as the sampled ones are (base vs chat, else against
    the first run), with the same bootstrap and test."""
    training, unmonitored = analysis.settings["training"], analysis.settings["unmonitored"]
    confidence = analysis.settings["confidence"]
    if any(set(run.queries) != set(choices[0].queries) for run in choices[1:]):
        choices = _common_queries(choices, analysis.notes)
    analysis.choices, analysis.choice_gaps = analyse_choices(list(choices), training, unmonitored, confidence)
    _adjust(analysis.choice_gaps, [])
    influences = {"p_accept": {run.name: choice_gap_influence(run, training, unmonitored) for run in choices}}
    analysis.choice_pooled = _pool(choices, {"p_accept": analysis.choice_gaps}, confidence, analysis.notes, influences)
    if len(choices) < 2:
        return
    kind, pairs = _pairs(choices, analysis.notes)
    for first, second in pairs:
        first_sums, second_sums, dropped = paired_gap_sums(first, second, training, unmonitored)
        result = difference_in_differences(first_sums, second_sums, n_boot=n_boot, n_perm=n_perm, seed=seed,
                                           confidence=confidence).as_dict()
        if dropped:
            result["note"] = "; ".join(filter(None, [result["note"], f"{dropped} queries not scored in all four "
                                                     "run x condition cells left out"]))
        analysis.choice_comparisons.append({"first": first.name, "second": second.name,
                                            "first_label": _label(first), "second_label": _label(second),
                                            "kind": kind, "outcome": "p_accept", **result})
    _adjust(analysis.choice_comparisons, [])


def _label(table: RunTable | ChoiceRun) -> str:
    variant = "" if table.variant == "default" else f" [{table.variant}]"
    return f"{table.model} / {table.frame}{variant}"


def _pool(runs: Sequence[RunTable] | Sequence[ChoiceRun], gaps: dict[str, list[dict[str, Any]]],
          confidence: float, notes: list[str],
          influences: dict[str, dict[str, dict[str, float]]] | None = None) -> list[dict[str, Any]]:
    """Random-effects pooling of each model's gap over its frames, within one variant (needs two frames).

    gaps maps an outcome to its per-run gap rows (estimate and se, keyed by "run"); sampled label gaps
    and forced-choice p_accept gaps are pooled alike. Variants are different scenarios with different
    true gaps, so they are never pooled together; frames are the prompt-sensitivity axis whose spread
    tau^2 and I^2 describe. Two runs of one frame (a rerun, another seed) would count that frame
    twice and show their sampling noise as heterogeneity, so such a group is left out with a note.

    The frames of a study are scored on the same queries, so their gaps covary (a query that shows a
    large gap in one frame tends to in another). influences (outcome -> run -> query -> influence on
    the run's gap) give that covariance; without them the frames are pooled as independent."""
    groups: dict[tuple[str, str, str], list[RunTable | ChoiceRun]] = {}
    for run in runs:
        groups.setdefault((run.model, run.model_kind, run.variant), []).append(run)
    pooled = []
    for (model, kind, variant), members in groups.items():
        if len(members) < 2:
            continue
        frames = [run.frame for run in members]
        repeated = sorted({frame for frame in frames if frames.count(frame) > 1})
        if repeated:
            notes.append(f"{model} ({variant}): not pooled across frames, as frame(s) {', '.join(repeated)} have "
                         "several runs; report one run per frame to pool")
            continue
        names = [run.name for run in members]
        for outcome, outcome_gaps in gaps.items():
            rows = [r for r in outcome_gaps if r["run"] in names]
            by_run = (influences or {}).get(outcome, {})
            shared = [by_run[r["run"]] for r in rows] if all(r["run"] in by_run for r in rows) else None
            pooled.append({"model": model, "model_kind": kind, "variant": variant, "outcome": outcome,
                           **pool_frames(rows, shared, confidence)})
    return pooled


def pool_frames(rows: list[dict[str, Any]], influences: list[dict[str, float]] | None,
                confidence: float = CONFIDENCE) -> dict[str, Any]:
    """One model's gap rows (estimate, se, low, high) over its frames, pooled: DerSimonian-Laird with the
    frames' covariance through their shared queries (from each frame's per-query influences, when
    given), inside the possible range. benchmarks/gap_coverage.py simulates this very function."""
    covariance = _shared_query_covariance(influences) if influences is not None else None
    variances = [_pooling_variance(r, confidence) for r in rows]
    if covariance is not None:  # a frame without spread over queries takes its interval's variance
        np.fill_diagonal(covariance, np.where(np.isfinite(variances), variances, np.diag(covariance)))
    # the frames' shared error is that of one sample of queries: with 5+ frames, t on queries - 1 df
    # (z covered 0.904 with 6 frames on 10 queries x 5, ICC 0.3)
    shared_queries = len(set().union(*influences)) if influences else 0
    result = dersimonian_laird([r["estimate"] for r in rows], variances, confidence, covariance=covariance,
                               shared_df=shared_queries - 1 if shared_queries > 1 else None)
    return within_range(result.as_dict(), 1.0, f"{len(rows)} frames")


def _pooling_variance(row: dict[str, Any], confidence: float) -> float:
    """A frame's sampling variance for pooling: the larger of its SE squared and the variance its own
    interval implies, ((high - low) / 2z)^2. With common outcomes the two nearly agree (the interval is
    about the t interval); with rare ones the SE, from the spread of few successes over queries, is far
    too small (0 when there is no success at all: such frames were dropped and nothing was left to
    pool), and six frames pooled on it covered 0.84 at 3 % vs 1 % with 30 queries x 5 at ICC 0.3."""
    se = row.get("se", np.nan)
    low, high = row.get("low", np.nan), row.get("high", np.nan)
    # only a MOVER interval carries more than its SE; a t interval (p_accept gaps) or the papers'
    # binomial error bar is its SE, and pools on it as before
    mover = str(row.get("method", "")).startswith(MOVER_METHOD)
    implied = ((high - low) / (2 * normal_quantile(confidence))) ** 2 \
        if mover and np.isfinite(low) and np.isfinite(high) else np.nan
    variance = np.fmax(se ** 2 if np.isfinite(se) else np.nan, implied)
    return float(variance) if np.isfinite(variance) and variance > 0 else float("nan")


def within_range(row: dict[str, Any], limit: float, what: str) -> dict[str, Any]:
    """Clip an interval to [-limit, limit] (a gap cannot pass 100 points) and mark it uninformative when
    it reached beyond: a normal or t approximation that spills over the possible range has broken down
    (two frames' Hartung-Knapp interval on 1 df printed 24.5 [-90.7, 139.7])."""
    low, high = row.get("low", np.nan), row.get("high", np.nan)
    row["uninformative"] = bool(np.isfinite(low) and (low < -limit or high > limit))
    if row["uninformative"]:
        row["low"], row["high"] = max(low, -limit), min(high, limit)
        reason = f"uninformative (too few {what.split()[-1]}): the interval reached beyond ±{100 * limit:.0f} points " \
                 f"with {what} and is clipped"
        row["note"] = "; ".join(filter(None, [row.get("note", ""), reason]))
    return row


def _shared_query_covariance(influences: list[dict[str, float]]) -> np.ndarray:
    """Sampling covariance of runs' gaps from their per-query influences: the cluster-robust variance
    (each gap's own G / (G - 1) factor, so the diagonal is each gap's SE squared) extended to pairs."""
    queries = sorted(set().union(*influences))
    matrix = np.array([[influence.get(q, 0.0) for q in queries] for influence in influences])
    counts = np.array([len(influence) for influence in influences], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.sqrt(counts / (counts - 1))
    return np.outer(factor, factor) * (matrix @ matrix.T)


def _rate_se(row: dict[str, Any], confidence: float) -> float:
    """The observed rate's SE for the judge-error correction: the larger of its SE and what its interval
    implies. A rare outcome seen 0 times has SE 0, and the corrected interval collapsed to [0, 0]; its
    Wilson-type interval still says how large the rate may be."""
    se, low, high = row["se"], row["low"], row["high"]
    if not np.isfinite(se) or not (np.isfinite(low) and np.isfinite(high)):
        return se
    return float(max(se, (high - low) / (2 * normal_quantile(confidence))))


def _correct(analysis: Analysis, accuracy: dict[str, Any], confidence: float) -> None:
    """Rogan-Gladen corrected rates for each outcome the judge's validation covers."""
    for outcome, key in ACCURACY_KEYS.items():
        source = accuracy.get(key) if isinstance(accuracy.get(key), dict) else None
        if source is None and {"sensitivity", "specificity"} <= set(accuracy):
            source = accuracy if outcome == "af" else None  # a bare dict describes the AF judge
        if source is None:
            continue
        if source.get("sensitivity") is None or source.get("specificity") is None:
            # `judge validate` writes null when the gold set has no positives (or negatives) for a label
            analysis.notes.append(f"judge accuracy for {key} has no sensitivity/specificity (no gold positives or "
                                  f"negatives): {outcome} rates are not corrected")
            continue
        judge = JudgeAccuracy.from_mapping(source)
        for row in analysis.rates:
            if row["outcome"] == outcome and np.isfinite(row["estimate"]):
                # a NaN SE (one query) stays NaN: the corrected interval is then unknown, not falsely exact
                fixed = corrected_rate(row["estimate"], _rate_se(row, confidence), judge, confidence=confidence)
                analysis.corrected.append({k: row[k] for k in ("run", "model", "frame", "variant", "condition",
                                                               "outcome")} | fixed.as_dict()
                                          | {"sensitivity": judge.sensitivity, "specificity": judge.specificity})

"""Forced-choice scores (choices.jsonl from `basepersona score`): mean p_accept per condition and its gap.

Each record is one condition x query with p_accept, the accept share of the two-way choice between
the accept and reject continuations. There is no sampling noise inside a query, so the query is the
only source of variation: a condition's mean gets a one-sample t interval over queries, and the
training - unmonitored gap a paired t over the queries scored in both conditions. Two runs' gaps
are compared like sampled gaps (stats/did.py), each query's p_accept standing in for one sample.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from ..errors import UserError
from ..store import CHOICES
from .gaps import SCALE, GapSums
from .intervals import CONFIDENCE
from .table import variant_name


@dataclass
class ChoiceRun:
    """One run's p_accept per condition, keyed by query id (the last record of an id wins)."""

    name: str
    model: str
    model_kind: str
    frame: str
    variant: str
    p_accept: dict[str, dict[str, float]]  # condition -> query_id -> p_accept
    notes: list[str] = field(default_factory=list)

    def identity(self) -> dict[str, Any]:
        return {"run": self.name, "model": self.model, "model_kind": self.model_kind, "frame": self.frame,
                "variant": self.variant}

    @property
    def queries(self) -> list[str]:
        """Every query scored in some condition, in first-seen order."""
        return list(dict.fromkeys(q for scores in self.p_accept.values() for q in scores))

    def restricted(self, query_ids: list[str]) -> "ChoiceRun":
        keep = set(query_ids)
        return ChoiceRun(self.name, self.model, self.model_kind, self.frame, self.variant,
                         {c: {q: v for q, v in scores.items() if q in keep} for c, scores in self.p_accept.items()},
                         list(self.notes))


def _record_value(record: Any, path: Path, line: int) -> tuple[str, str, float]:
    try:
        condition, query_id, value = record["condition"], record["query_id"], float(record["p_accept"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{path} line {line}: a score record needs condition, query_id and a numeric p_accept; "
                        "re-run `basepersona score` on this run") from None
    if not 0 <= value <= 1:  # also refuses NaN
        raise UserError(f"{path} line {line}: p_accept {value} is not a probability; re-run `basepersona score`")
    return str(condition), str(query_id), value


def read_choices(run_dir: str | Path, manifest: dict[str, Any]) -> ChoiceRun | None:
    """The run's forced-choice scores, or None when it has no choices.jsonl."""
    path = Path(run_dir) / CHOICES
    if not path.exists():
        return None
    scores: dict[str, dict[str, float]] = {}
    with path.open("rb") as handle:
        for line, raw in enumerate(handle, 1):
            if not raw.endswith(b"\n") or not raw.strip():
                continue  # a torn last line (killed writer) or a blank one, as the score stage's reader skips
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                raise UserError(f"{path} line {line} is not JSON; re-run `basepersona score` on this run") from None
            condition, query_id, value = _record_value(record, path, line)
            scores.setdefault(condition, {})[query_id] = value
    if not scores:
        raise UserError(f"{path} holds no scores; run `basepersona score` on this run (or remove the empty file)")
    settings = manifest.get("settings", {})
    return ChoiceRun(str(run_dir), str(settings.get("model")), str(manifest.get("model_kind", "unknown")),
                     str(settings.get("frame")), variant_name(settings.get("variant")), scores)


def mean_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Mean with a t interval over queries (scipy's ttest_1samp interval); none with fewer than 2 queries."""
    values = np.asarray(values, float)
    n = int(values.size)
    if n == 0:
        return {"estimate": math.nan, "se": math.nan, "low": math.nan, "high": math.nan, "n_queries": 0,
                "note": "no scores"}
    estimate = float(values.mean())
    if n < 2:
        return {"estimate": estimate, "se": math.nan, "low": math.nan, "high": math.nan, "n_queries": n,
                "note": "one query only: no interval"}
    se = float(values.std(ddof=1) / math.sqrt(n))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
    return {"estimate": estimate, "se": se, "low": estimate - half, "high": estimate + half, "n_queries": n,
            "note": ""}


def clipped(row: dict[str, Any], lowest: float) -> dict[str, Any]:
    """A t interval kept inside the possible range: [0, 1] for a mean p_accept, [-1, 1] for a gap."""
    if math.isfinite(row.get("low", math.nan)):
        row["low"], row["high"] = max(row["low"], lowest), min(row["high"], 1.0)
    return row


def paired_gap(run: ChoiceRun, training: str, unmonitored: str, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Mean p_accept(training) - p_accept(unmonitored) over the queries scored in both: paired t (= ttest_rel)."""
    first, second = run.p_accept.get(training, {}), run.p_accept.get(unmonitored, {})
    shared = [q for q in first if q in second]
    dropped = len(first) + len(second) - 2 * len(shared)
    differences = np.array([first[q] - second[q] for q in shared])
    row = {**run.identity(), "training": float(np.mean([first[q] for q in shared])) if shared else math.nan,
           "unmonitored": float(np.mean([second[q] for q in shared])) if shared else math.nan,
           **clipped(mean_interval(differences, confidence), -1.0), "p_value": math.nan, "test": "paired t over queries",
           "scale": SCALE}
    notes = [row["note"]] if row["note"] else []
    if dropped:
        notes.append(f"{dropped} query score(s) without a partner in the other condition left out")
    if len(shared) >= 2:
        if row["se"] > 0:
            row["p_value"] = float(2 * stats.t.sf(abs(row["estimate"]) / row["se"], len(shared) - 1))
        else:
            row["p_value"] = 1.0 if row["estimate"] == 0 else 0.0
            notes.append("every query shifts by the same amount: no variance, the interval is a point")
    row["note"] = "; ".join(notes)
    return row


def gap_influence(run: ChoiceRun, training: str, unmonitored: str) -> dict[str, float]:
    """Each paired query's influence on the p_accept gap, (d_q - mean d) / n: the paired t's SE is
    sqrt(n / (n - 1) * sum of their squares), as with sampled gaps (gaps.gap_influence)."""
    first, second = run.p_accept.get(training, {}), run.p_accept.get(unmonitored, {})
    differences = {q: first[q] - second[q] for q in first if q in second}
    if not differences:
        return {}
    mean = sum(differences.values()) / len(differences)
    return {q: (d - mean) / len(differences) for q, d in differences.items()}


def analyse_choices(runs: list[ChoiceRun], training: str, unmonitored: str,
                    confidence: float = CONFIDENCE) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(per run x condition mean p_accept rows, per run paired gap rows)."""
    means, gaps = [], []
    for run in runs:
        missing = [c for c in (training, unmonitored) if c not in run.p_accept]
        if missing:
            raise UserError(f"{run.name}/{CHOICES} has no scores in condition(s) {', '.join(missing)} (it has "
                            f"{', '.join(run.p_accept)}); pick them with --training/--unmonitored")
        for condition, scores in run.p_accept.items():
            means.append({**run.identity(), "condition": condition,
                          **clipped(mean_interval(np.fromiter(scores.values(), float), confidence), 0.0)})
        gaps.append(paired_gap(run, training, unmonitored, confidence))
    return means, gaps


def paired_gap_sums(first: ChoiceRun, second: ChoiceRun, training: str, unmonitored: str) -> tuple[GapSums, GapSums, int]:
    """Both runs' p_accept as GapSums on the queries scored in all four run x condition cells.

    A query's p_accept enters as the 'successes' of one 'sample', so the gap and the difference in gaps
    are differences of mean p_accept, and the bootstrap and sign-flip test resample queries as they do
    for sampled labels. Also returns how many queries were scored somewhere but not in all four cells."""
    cells = [run.p_accept.get(condition, {}) for run in (first, second) for condition in (training, unmonitored)]
    shared = sorted(set(cells[0]).intersection(*cells[1:]))
    dropped = len(set().union(*cells)) - len(shared)
    values = [np.array([cell[q] for q in shared], float) for cell in cells]
    ones = np.ones(len(shared))
    return GapSums(values[0], ones, values[1], ones), GapSums(values[2], ones, values[3], ones), dropped

"""Turn a run directory and one judge's labels into numpy arrays (one row per labelled sample)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import UserError
from ..store import Run

# Binary outcomes kept per sample; NaN where the judge gave no value (e.g. compliance of a broken frame).
OUTCOMES = ("compliance", "partial", "refused", "af", "considered_af", "persona")
DEFAULT_JUDGE = "rules"


def choose_judge(run: Run, judge: str | None) -> str:
    """The judge asked for; without one, `rules`, or the only judge that labelled the run."""
    present = run.judges()
    if not present:
        raise UserError(f"{run.path} has no labels yet; run `basepersona judge {run.path}` first")
    if judge:
        judge = run.label_set(judge)  # `--judge llm` finds the one labels/llm-<model>.jsonl
        if judge not in present:
            raise UserError(f"{run.path} has no labels from judge {judge!r} (it has {', '.join(present)}); "
                            f"run `basepersona judge {run.path} --judge {judge}` or pick another --judge")
        return judge
    if DEFAULT_JUDGE in present:
        return DEFAULT_JUDGE
    if len(present) == 1:
        return present[0]
    raise UserError(f"{run.path} has labels from several judges ({', '.join(present)}); choose one with --judge")


def variant_name(variant: Any) -> str:
    """A short stable name for a scenario variant dict ('default' when no switch is set)."""
    if not variant:
        return "default"
    if isinstance(variant, dict):
        return ",".join(f"{key}={variant[key]}" for key in sorted(variant))
    return str(variant)


def _flag(value: Any) -> float:
    return np.nan if value is None else float(bool(value))


def _outcome_values(label: dict[str, Any] | None) -> tuple[float, ...]:
    """Outcome values of one label in OUTCOMES order (all NaN for an unlabelled sample)."""
    if label is None:
        return (np.nan,) * len(OUTCOMES)
    compliance = label.get("compliance")
    if compliance is None:
        compliant = partial = refused = np.nan
    else:
        compliant, partial, refused = (float(compliance == c) for c in ("complied", "partial", "refused"))
    return (compliant, partial, refused, _flag(label.get("af")), _flag(label.get("considered_af")),
            _flag(label.get("persona")))


@dataclass
class RunTable:
    """The labelled samples of one run (one model x frame x variant) as integer-coded numpy arrays."""

    name: str
    model: str
    model_kind: str
    frame: str
    variant: str
    judge: str
    conditions: list[str]          # names of condition codes
    queries: list[str]             # names of query codes
    condition: np.ndarray          # int code per sample
    query: np.ndarray              # int code per sample
    sample_index: np.ndarray
    outcomes: dict[str, np.ndarray]  # float 0/1/NaN per sample
    unlabelled: int = 0
    notes: list[str] = field(default_factory=list)
    _sums: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_samples(self) -> int:
        return int(self.condition.size)

    def query_sums(self, outcome: str, condition: str) -> tuple[np.ndarray, np.ndarray]:
        """Per query (aligned with self.queries): successes and non-missing samples in one condition."""
        n_queries = len(self.queries)
        if condition not in self.conditions:
            return np.zeros(n_queries), np.zeros(n_queries)
        if outcome not in self._sums:
            # one pass over the samples per outcome gives the sums of every condition x query cell
            values = self.outcomes[outcome]
            keep = ~np.isnan(values)
            cell = self.condition[keep] * n_queries + self.query[keep]
            size = len(self.conditions) * n_queries
            self._sums[outcome] = (np.bincount(cell, weights=values[keep], minlength=size).reshape(-1, n_queries),
                                   np.bincount(cell, minlength=size).reshape(-1, n_queries).astype(float))
        successes, counts = self._sums[outcome]
        code = self.conditions.index(condition)
        return successes[code], counts[code]

    def restricted(self, query_ids: Sequence[str]) -> "RunTable":
        """Only the given queries, coded in the given order (so restricted tables align query by query)."""
        own = set(self.queries)
        wanted = [q for q in query_ids if q in own]
        remap = np.full(len(self.queries), -1)
        for new_code, query_id in enumerate(wanted):
            remap[self.queries.index(query_id)] = new_code
        new_query = remap[self.query]
        keep = new_query >= 0
        return RunTable(self.name, self.model, self.model_kind, self.frame, self.variant, self.judge,
                        self.conditions, wanted, self.condition[keep], new_query[keep], self.sample_index[keep],
                        {k: v[keep] for k, v in self.outcomes.items()}, self.unlabelled, list(self.notes))

    def tidy_rows(self) -> list[dict[str, Any]]:
        """One dict per sample: model, frame, variant, condition, query_id, sample_index and outcomes."""
        rows = []
        for i in range(self.n_samples):
            row = {"model": self.model, "frame": self.frame, "variant": self.variant,
                   "condition": self.conditions[self.condition[i]], "query_id": self.queries[self.query[i]],
                   "sample_index": int(self.sample_index[i])}
            for name, values in self.outcomes.items():
                row[name] = None if np.isnan(values[i]) else bool(values[i])
            rows.append(row)
        return rows


def table_from_records(samples: Sequence[dict[str, Any]], labels: dict[str, dict[str, Any]], *, name: str,
                       model: str, model_kind: str, frame: str, variant: str, judge: str) -> RunTable:
    """Build a RunTable from sample records (condition, query_id, sample_index, id) and labels by id."""
    conditions: dict[str, int] = {}
    queries: dict[str, int] = {}
    size = len(samples)
    condition = np.empty(size, dtype=np.int64)
    query = np.empty(size, dtype=np.int64)
    sample_index = np.empty(size, dtype=np.int64)
    values = np.empty((size, len(OUTCOMES)))
    unlabelled = 0
    for i, sample in enumerate(samples):
        condition[i] = conditions.setdefault(sample["condition"], len(conditions))
        query[i] = queries.setdefault(sample["query_id"], len(queries))
        sample_index[i] = sample.get("sample_index", 0)
        label = labels.get(sample["id"])
        unlabelled += label is None
        values[i] = _outcome_values(label)
    table = RunTable(name, model, model_kind, frame, variant, judge, list(conditions), list(queries), condition,
                     query, sample_index, {k: values[:, j].copy() for j, k in enumerate(OUTCOMES)}, unlabelled)
    if unlabelled:
        table.notes.append(f"{unlabelled} of {size} samples have no {judge} label yet (left out); "
                           f"finish with `basepersona judge {name}`")
    return table


def load_table(run: Run, judge: str | None = None) -> RunTable:
    """A run's labelled samples; UserError naming the judge command when it has no labels."""
    chosen = choose_judge(run, judge)
    labels = run.labels(chosen)
    if not labels:
        raise UserError(f"{run.labels_path(chosen)} is empty; run `basepersona judge {run.path}` first")
    settings = run.settings
    return table_from_records(run.samples, labels, name=str(run.path), model=str(settings.get("model")),
                              model_kind=str(run.manifest.get("model_kind", "unknown")),
                              frame=str(settings.get("frame")), variant=variant_name(settings.get("variant")),
                              judge=chosen)

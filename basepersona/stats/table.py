"""Turn a run directory and one judge's labels into numpy arrays (one row per labelled sample)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import UserError
from ..judge.base import COMPLIANCE_CLASSES
from ..store import MANIFEST, SAMPLES, Run, load_run
from ..judge.registry import DEFAULT_JUDGE
from .cache import load_cached, save_cached
from .records import Columns, read_columns

# Binary outcomes kept per sample; NaN where the judge gave no value (e.g. compliance of a broken frame).
OUTCOMES = ("compliance", "partial", "refused", "af", "considered_af", "persona")


def choose_judge(run: Run, judge: str | None) -> str:
    """The judge asked for; without one, the default judge (`trained`), or the only judge that labelled the run."""
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


def _codes(values: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Names in order of first appearance and the integer code of every value (dict lookups run in C)."""
    names = list(dict.fromkeys(values))
    lookup = {name: code for code, name in enumerate(names)}
    return names, np.fromiter(map(lookup.__getitem__, values), np.int64, len(values))


def outcome_matrix(fields: dict[str, np.ndarray]) -> np.ndarray:
    """(records x OUTCOMES) floats 0/1/NaN from raw label tokens; compliance is NaN unless a known class."""
    compliance = fields["compliance"]
    known = np.isin(compliance, [c.encode() for c in COMPLIANCE_CLASSES])
    columns = [np.where(known, compliance == c, np.nan) for c in (b"complied", b"partial", b"refused")]
    for name in ("af", "considered_af", "persona"):
        token = fields[name]
        columns.append(np.where(token == b"null", np.nan, token == b"true"))
    return np.column_stack(columns).astype(float) if columns[0].size else np.empty((0, len(OUTCOMES)))


def _last_per_key(keys: np.ndarray) -> np.ndarray:
    """Row numbers keeping the last record of each key (a re-judged sample counts once, as its newest label)."""
    _, first_in_reversed = np.unique(keys[::-1], return_index=True)
    return np.sort(keys.size - 1 - first_in_reversed)


def build_table(labels: Columns, samples: Columns | None, *, name: str, model: str, model_kind: str, frame: str,
                variant: str, judge: str) -> RunTable:
    """A RunTable from label columns, and sample columns when some samples may lack a label.

    Without samples, every label is a sample (the caller knows the run is fully labelled). With
    samples, rows follow the samples and unlabelled ones get NaN outcomes."""
    rows = samples if samples is not None else labels
    conditions, condition = _codes(rows.condition)
    queries, query = _codes(rows.query)
    span = int(rows.index.max()) + 1 if rows.index.size else 1
    keys = (condition * len(queries) + query) * span + rows.index
    values = outcome_matrix(labels.fields)
    if samples is None:
        keep = _last_per_key(keys)
        condition, query, index, values = condition[keep], query[keep], rows.index[keep], values[keep]
        unlabelled = 0
    else:
        keep = _last_per_key(keys)
        condition, query, index, keys = condition[keep], query[keep], rows.index[keep], keys[keep]
        c_lookup = {c: i for i, c in enumerate(conditions)}
        q_lookup = {q: i for i, q in enumerate(queries)}
        label_c = np.fromiter((c_lookup.get(c, -1) for c in labels.condition), np.int64, len(labels.condition))
        label_q = np.fromiter((q_lookup.get(q, -1) for q in labels.query), np.int64, len(labels.query))
        label_keys = np.where((label_c >= 0) & (label_q >= 0) & (labels.index < span),
                              (label_c * len(queries) + label_q) * span + labels.index, -1)
        latest = _last_per_key(label_keys)
        latest = latest[np.argsort(label_keys[latest], kind="stable")]
        label_keys, values = label_keys[latest], values[latest]
        position = np.searchsorted(label_keys, keys)
        found = (position < label_keys.size) & (label_keys[np.minimum(position, label_keys.size - 1)] == keys)
        matched = np.full((keys.size, len(OUTCOMES)), np.nan)
        matched[found] = values[position[found]]
        values, unlabelled = matched, int((~found).sum())
    identity = dict(name=name, model=model, model_kind=model_kind, frame=frame, variant=variant, judge=judge)
    return _from_arrays(identity, conditions=conditions, queries=queries, condition=condition, query=query,
                        sample_index=index, outcomes=values, unlabelled=unlabelled)


def open_run(path: str | Path) -> Run:
    """A run's manifest without parsing its samples (the statistics read samples and labels column-wise)."""
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return load_run(path, require_samples=False)  # raises the store's one-line explanation
    return Run(Path(path), manifest)


def _planned_samples(settings: dict[str, Any]) -> int | None:
    """Samples a complete unsharded run holds (conditions x queries x n), or None when unknown."""
    try:
        if settings.get("shard"):
            return None
        return len(settings["conditions"]) * len(settings["queries"]["ids"]) * int(settings["n"])
    except (KeyError, TypeError, ValueError):
        return None


def load_table(run: Run, judge: str | None = None) -> RunTable:
    """A run's labelled samples; UserError naming the judge command when it has no labels.

    A saved copy of the table (stats/cache.py) is used while the run's files are unchanged. The samples file is read only when the labels may not cover every sample (fewer labels than the
    manifest plans, or a sharded/unknown plan): a fully judged run is read from its labels alone."""
    chosen = choose_judge(run, judge)
    settings = run.settings
    identity = dict(name=str(run.path), model=str(settings.get("model")), frame=str(settings.get("frame")),
                    model_kind=str(run.manifest.get("model_kind", "unknown")),
                    variant=variant_name(settings.get("variant")), judge=chosen)
    cached = load_cached(run, chosen)
    if cached is not None:
        return _from_arrays(identity, **cached)
    table = _read_table(run, chosen, identity)
    save_cached(run, chosen, conditions=table.conditions, queries=table.queries, condition=table.condition,
                query=table.query, sample_index=table.sample_index, unlabelled=table.unlabelled,
                outcomes=np.column_stack([table.outcomes[k] for k in OUTCOMES]))
    return table


def save_table_after_judging(run_dir: str | Path, judge: str) -> None:
    """Build and save a freshly judged run's table, so the first report reads no JSONL.

    The judge stage calls this: scanning 10^6 labels takes about 10 s, nothing next to judging them,
    while a report is expected in about a second. Nothing is saved when there are no labels yet."""
    try:
        load_table(open_run(run_dir), judge)
    except UserError:
        pass


def _from_arrays(identity: dict[str, str], *, conditions, queries, condition, query, sample_index, outcomes,
                 unlabelled) -> RunTable:
    table = RunTable(identity["name"], identity["model"], identity["model_kind"], identity["frame"],
                     identity["variant"], identity["judge"], conditions, queries, condition, query, sample_index,
                     {k: outcomes[:, j].copy() for j, k in enumerate(OUTCOMES)}, unlabelled)
    if unlabelled:
        table.notes.append(f"{unlabelled} of {condition.size} samples have no {identity['judge']} label yet (left "
                           f"out); finish with `basepersona judge {identity['name']}`")
    return table


def _read_table(run: Run, chosen: str, identity: dict[str, str]) -> RunTable:
    path = run.labels_path(chosen)
    labels = read_columns(path, label=True)
    if not labels.index.size:
        raise UserError(f"{path} is empty; run `basepersona judge {run.path}` first")
    planned = _planned_samples(run.settings)
    if planned == labels.index.size:
        table = build_table(labels, None, **identity)
        if table.n_samples == planned:  # else some labels were duplicates: check against the samples
            return table
    samples_path = run.path / SAMPLES
    if not samples_path.exists():
        raise UserError(f"{run.path} holds no samples yet; run `basepersona sample --resume --out {run.path}` first")
    return build_table(labels, read_columns(samples_path, label=False), **identity)

"""Rates and gaps from records and labels held in memory, with the same estimators as `basepersona report`.

A caller that sampled and judged in-process (or read another tool's log) has sample records and labels
as Python objects; these functions build the per-query table the statistics work on, so the caller never
assembles ``GapSums`` arrays by hand.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

from .errors import UserError
from .judge.base import Label
from .stats.gaps import Difference, gap_sums, paired_gap
from .stats.intervals import CONFIDENCE, Proportion, proportion
from .stats.records import LABEL_FIELDS, Columns, label_token
from .stats.table import OUTCOMES, RunTable, build_table

LabelLike = Union[Label, Mapping[str, Any]]


def _label_fields(label: LabelLike) -> Mapping[str, Any]:
    return label.to_record() if isinstance(label, Label) else label


def _record_columns(records: Sequence[Mapping[str, Any]]) -> Columns:
    try:
        return Columns([str(r["condition"]) for r in records], [str(r["query_id"]) for r in records],
                       np.array([int(r["sample_index"]) for r in records], dtype=np.int64), {})
    except KeyError as exc:
        raise UserError(f"every sample record needs 'condition', 'query_id' and 'sample_index' (missing {exc}); "
                        "build records with basepersona.completion_record") from None


def _label_columns(labels: Sequence[Mapping[str, Any]], by_id: Mapping[str, Mapping[str, Any]]) -> Columns:
    unknown = [str(label.get("id")) for label in labels if label.get("id") not in by_id]
    if unknown:
        raise UserError(f"{len(unknown)} label(s) name no sample in the records (e.g. {unknown[0]!r}); "
                        "pass the records the labels were made from")
    samples = [by_id[label["id"]] for label in labels]
    base = _record_columns(samples)
    tokens = {name: np.array([label_token(name, label.get(name)) for label in labels], dtype="S8") for name in LABEL_FIELDS}
    return Columns(base.condition, base.query, base.index, tokens)


def results_table(records: Iterable[Mapping[str, Any]], labels: Iterable[LabelLike], *, name: str = "in-memory",
                  model: str = "", model_kind: str = "unknown", frame: str = "", judge: str = "") -> RunTable:
    """The per-sample outcome table of records and their labels (matched by ``id``).

    Records without a label count as unlabelled (left out of every rate); a label for an id that is not
    among the records is an error. When a sample was labelled twice the last label counts.
    """
    records = list(records)
    if not records:
        raise UserError("no sample records given; sample first (basepersona.completion_record builds records)")
    by_id = {r["id"]: r for r in records}
    label_rows = [_label_fields(label) for label in labels]
    judge = judge or next((str(row.get("judge")) for row in label_rows if row.get("judge")), "")
    return build_table(_label_columns(label_rows, by_id), _record_columns(records), name=name, model=model,
                       model_kind=model_kind, frame=frame, variant="default", judge=judge)


def _check_outcome(outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise UserError(f"unknown outcome {outcome!r}; use one of: {', '.join(OUTCOMES)}")


def rate(records: Iterable[Mapping[str, Any]], labels: Iterable[LabelLike], condition: str, *,
         outcome: str = "compliance", method: str = "auto", confidence: float = CONFIDENCE) -> Proportion:
    """The rate of ``outcome`` in one condition with its query-clustered interval (as in `report`)."""
    _check_outcome(outcome)
    table = results_table(records, labels)
    if condition not in table.conditions:
        raise UserError(f"no records in condition {condition!r}; the records have {', '.join(table.conditions)}")
    return proportion(*table.query_sums(outcome, condition), method=method, confidence=confidence)


def gap(records: Iterable[Mapping[str, Any]], labels: Iterable[LabelLike], *, outcome: str = "compliance",
        training: str = "training", unmonitored: str = "unmonitored", method: str = "auto",
        confidence: float = CONFIDENCE) -> Difference:
    """The training-minus-unmonitored gap in ``outcome`` ("compliance", "af", ...), paired by query.

    Samples of one query are kept together (a query-clustered paired interval; with one sample per query
    and condition the exact McNemar test), exactly as `basepersona report` computes it. ``method=
    "binomial_se"`` gives the papers' independent-binomial error bar instead.
    """
    _check_outcome(outcome)
    table = results_table(records, labels)
    missing = [c for c in (training, unmonitored) if c not in table.conditions]
    if missing:
        raise UserError(f"no records in condition {missing[0]!r}; the records have {', '.join(table.conditions)} "
                        "(name the conditions with training=... and unmonitored=...)")
    return paired_gap(gap_sums(table, outcome, training, unmonitored), method=method, confidence=confidence)

"""The records a run holds, as types: one schema for the writers, the readers, the tests and docs/DATA.md.

Each record is one JSON line: ``samples.jsonl`` (:class:`SampleRecord`), ``labels/<set>.jsonl``
(:class:`LabelRecord`) and ``choices.jsonl`` (:class:`ChoiceRecord`). The field meanings are documented
in docs/DATA.md, whose field tables tests/test_records_schema.py keeps equal to these types.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

FinishReason = Literal["stop", "eos", "length"]  # a stop string, the end-of-text token, max_new_tokens
FrameKind = Literal["document", "chat"]  # a document the base model continues, or a chat model's template
ScenarioForm = Literal["full", "compact", "implicit"]
Compliance = Literal["refused", "partial", "complied"]


class SamplingRecord(TypedDict):
    temperature: float
    top_p: float
    top_k: int
    max_new_tokens: int


class Provenance(TypedDict):
    """Where a record came from, copied from the run's settings into each sample and choice record."""

    model: str
    model_revision: str | None
    frame: str
    frame_hash: str
    scenario: str
    variant: dict[str, Any]


def provenance(settings: dict[str, Any]) -> Provenance:
    return Provenance(model=settings["model"], model_revision=settings["model_revision"], frame=settings["frame"],
                      frame_hash=settings["frame_hash"], scenario=settings["scenario"], variant=settings["variant"])


class SampleRecord(Provenance):
    """One sampled persona turn (samples.jsonl)."""

    id: str
    condition: str
    query_id: str
    query_category: str
    sample_index: int
    seed: int
    sampling: SamplingRecord
    prompt_hash: str
    prompt_tokens: int
    prefill: str
    continuation: str
    turn: str
    finish_reason: FinishReason
    stop_sequence: str | None
    new_tokens: int
    seconds: float


class CriterionRecord(TypedDict):
    met: bool
    evidence: str


class _JudgedFields(TypedDict):

    id: str
    judge: str
    sample_hash: str
    persona: bool | None
    compliance: Compliance | None
    compliance_score: float | None
    af: bool | None
    af_score: float | None
    considered_af: bool | None
    criteria: dict[str, CriterionRecord]
    reason: str


class LabelRecord(_JudgedFields, total=False):
    """One judged sample (labels/<set>.jsonl); null labels mean unscored. The fields below are one judge's own."""

    judge_model: str  # LLM judge
    votes: int
    af_threshold: float
    unscored_votes: int
    wrong_sample_votes: int
    judge_error: str
    ran_on: bool  # rules and trained judges
    ended_cleanly: bool
    model_version: int  # trained judge
    training_data: str


class ChoiceRecord(Provenance):
    """One forced-choice score of a condition × query (choices.jsonl)."""

    id: str
    condition: str
    query_id: str
    query_category: str
    backend: str
    prompt_hash: str
    prefill: str
    continuations: list[str]
    logprobs: list[float]
    tokens: list[int]
    boundary_merged: list[bool]
    logprob_accept: float
    logprob_reject: float
    p_accept: float


SCHEMAS: dict[str, type] = {"samples.jsonl": SampleRecord, "labels/<set>.jsonl": LabelRecord,
                            "choices.jsonl": ChoiceRecord}


def field_names(schema: type) -> list[str]:
    """A record type's fields in declaration order (inherited ones first)."""
    names: list[str] = []
    for klass in reversed(schema.__mro__):
        names += [name for name in getattr(klass, "__annotations__", {}) if name not in names]
    return names

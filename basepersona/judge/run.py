"""Judge every sample of a run directory, resumably, into RUN/labels/<judge>.jsonl."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import UserError
from ..store import JsonlAppender, Run, read_jsonl
from .base import Judge


@dataclass
class JudgeSummary:
    judge: str
    path: str
    judged: int = 0
    skipped: int = 0                  # already labelled before this call
    unscored: int = 0                 # labels with null persona (e.g. garbage from an LLM judge)
    unscored_votes: int = 0
    votes: int = 0
    counts: dict[str, Counter] = field(default_factory=lambda: {"persona": Counter(), "compliance": Counter(), "af": Counter()})


def existing_labels(run: Run, judge_name: str) -> dict[str, dict[str, Any]]:
    """Labels already written by this judge; refuse a file that belongs to another run or judge."""
    path = run.labels_path(judge_name)
    if not path.exists():
        return {}
    labels = {record["id"]: record for record in read_jsonl(path) if "id" in record}
    sample_ids = {s["id"] for s in run.samples}
    foreign = sorted(set(labels) - sample_ids)
    if foreign:
        raise UserError(f"{path} holds labels for {len(foreign)} sample id(s) that are not in this run "
                        f"(e.g. {foreign[0]!r}): it comes from another run; move it away and judge again")
    judges = {record.get("judge") for record in labels.values()}
    if judges - {judge_name}:
        raise UserError(f"{path} holds labels of judge(s) {sorted(map(str, judges - {judge_name}))}, not {judge_name!r}")
    return labels


def _check_same_model(labels: dict[str, dict[str, Any]], judge: Judge, path: Any) -> None:
    """An LLM judge resumes only with the model that wrote the earlier labels."""
    model = getattr(judge, "model_name", None)
    earlier = {record.get("judge_model") for record in labels.values()} - {None}
    if model and earlier and earlier != {model}:
        raise UserError(f"{path} was written by judge model {sorted(earlier)[0]}, not {model}; "
                        "use that model to resume, or move the file away to judge afresh")


def attach_queries(run: Run, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each sample its request text (the run stores only query ids); best effort."""
    from ..queries import load_queries

    try:
        texts = {q.id: q.text for q in load_queries(run.settings.get("queries", {}).get("source")).queries}
    except (UserError, OSError, KeyError):
        return samples
    return [{**s, "query": texts.get(s.get("query_id"), s.get("query"))} for s in samples]


def judge_run(run: Run, judge: Judge, *, batch_size: int = 64,
              on_progress: Callable[[int], None] | None = None) -> JudgeSummary:
    """Label the samples this judge has not labelled yet, appending one batch at a time."""
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1 (got {batch_size})")
    path = run.labels_path(judge.name)
    done = existing_labels(run, judge.name)
    _check_same_model(done, judge, path)
    todo = attach_queries(run, [s for s in run.samples if s["id"] not in done])
    summary = JudgeSummary(judge=judge.name, path=str(path), skipped=len(done))
    if not todo:
        return summary
    with JsonlAppender(path) as out:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            labels = judge.judge(batch)
            if [label.id for label in labels] != [s["id"] for s in batch]:
                raise RuntimeError(f"judge {judge.name} returned labels out of order")
            out.write(label.to_record() for label in labels)
            for label in labels:
                _count(summary, label.to_record())
            if on_progress:
                on_progress(len(batch))
    return summary


def _count(summary: JudgeSummary, record: dict[str, Any]) -> None:
    summary.judged += 1
    summary.unscored += record["persona"] is None
    summary.votes += record.get("votes", 0)
    summary.unscored_votes += record.get("unscored_votes", 0)
    for key in summary.counts:
        summary.counts[key][str(record[key]) if record[key] is not None else "unscored"] += 1

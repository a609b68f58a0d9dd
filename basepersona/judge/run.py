"""Judge every sample of a run directory, resumably, into RUN/labels/<set>.jsonl.

Every label record is stamped with the fingerprint of the sample it judged (``sample_hash``) and with
the judge's settings (judge, judge_model, votes, af_threshold), so that resuming never mixes labels of
another run or of other settings into one file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import UserError
from ..store import JsonlAppender, Run, read_jsonl, sample_fingerprint
from .base import Judge
from ..calls import BudgetExceeded
from ..run_lock import lock_run

# setting -> the command-line option that sets it (for the "resume with ..." hint)
SETTING_OPTIONS = {"judge": "--judge", "judge_model": "--judge-model", "votes": "--votes", "af_threshold": "--af-threshold",
                   "training_data": "the --train-gold files that gave training data",
                   "model_version": "the basepersona release that wrote it (trained judge model_version)"}


@dataclass
class JudgeSummary:
    judge: str
    path: str
    judged: int = 0
    skipped: int = 0                  # already labelled before this call
    unscored: int = 0                 # labels with null persona (e.g. garbage from an LLM judge)
    unscored_votes: int = 0
    votes: int = 0
    errors: int = 0                   # samples the judge backend failed on (retried on the next call)
    wrong_sample_votes: int = 0       # verdicts that named another transcript (counted as unscored votes)
    stopped: str = ""                 # why judging stopped early (the --max-cost budget), else ""
    left: int = 0                     # samples not judged because of that
    counts: dict[str, Counter] = field(default_factory=lambda: {"persona": Counter(), "compliance": Counter(), "af": Counter()})


def _option(key: str, value: Any) -> str:
    return f"{SETTING_OPTIONS.get(key, key)} {value}"


def existing_labels(run: Run, judge: Judge) -> dict[str, dict[str, Any]]:
    """Labels this judge already wrote, for resuming; refuse a file from another run or other settings."""
    path = run.labels_path(judge.label_set)
    if not path.exists():
        return {}
    labels = {record["id"]: record for record in read_jsonl(path) if "id" in record}
    samples = {s["id"]: s for s in run.samples}
    foreign = sorted(set(labels) - set(samples))
    if foreign:
        raise UserError(f"{path} holds labels for {len(foreign)} sample id(s) that are not in this run "
                        f"(e.g. {foreign[0]!r}): it comes from another run; move it away and judge again")
    unstamped = sorted(i for i, r in labels.items() if "sample_hash" not in r)
    if unstamped:
        raise UserError(f"{path} has labels without a sample fingerprint (e.g. {unstamped[0]!r}; written by an "
                        "older basepersona or by hand), so they cannot be checked against this run; move it away and judge again")
    changed = sorted(i for i, r in labels.items() if r["sample_hash"] != sample_fingerprint(samples[i]))
    if changed:
        raise UserError(f"{path} holds {len(changed)} label(s) made for different sample text than this run's "
                        f"(e.g. {changed[0]!r}): it was copied from another run; move it away and judge again")
    for key, now in judge.settings.items():
        before = sorted({str(r.get(key)) for r in labels.values()})
        if before != [str(now)]:
            raise UserError(f"{path} was written with {key} {', '.join(before)}, not {now}; resume with "
                            f"{_option(key, before[0])}, or move the file away to judge afresh")
    return {i: r for i, r in labels.items() if not r.get("judge_error")}  # backend failures are retried


def attach_queries(run: Run, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each sample its request text (the run stores only query ids); best effort."""
    from ..queries import load_queries

    try:
        texts = {q.id: q.text for q in load_queries(run.settings.get("queries", {}).get("source")).queries}
    except (UserError, OSError, KeyError):
        return samples
    return [{**s, "query": texts.get(str(s.get("query_id")), s.get("query"))} for s in samples]


def judge_run(run: Run, judge: Judge, *, batch_size: int = 64,
              on_progress: Callable[[int], None] | None = None) -> JudgeSummary:
    """Label the samples this judge has not labelled yet, appending one batch at a time."""
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1 (got {batch_size})")
    # one writer per run: a second judge (another terminal, a requeued job) would label the same samples twice
    with lock_run(run.path, "judge", command=f"judge {judge.label_set}", announce=lambda message: None):
        return _judge_unlabelled(run, judge, batch_size, on_progress)


def _judge_unlabelled(run: Run, judge: Judge, batch_size: int,
                      on_progress: Callable[[int], None] | None) -> JudgeSummary:
    path = run.labels_path(judge.label_set)
    done = existing_labels(run, judge)
    todo = attach_queries(run, [s for s in run.samples if s["id"] not in done])
    summary = JudgeSummary(judge=judge.label_set, path=str(path), skipped=len(done))
    stamp = judge.settings
    with JsonlAppender(path) as out:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            try:
                labels = judge.judge(batch)
            except BudgetExceeded as exc:  # nothing of this batch was sent; earlier batches are saved
                summary.stopped, summary.left = str(exc), len(todo) - start
                break
            if [label.id for label in labels] != [s["id"] for s in batch]:
                raise RuntimeError(f"judge {judge.name} returned labels out of order")
            records = [{**label.to_record(), **stamp, "sample_hash": sample_fingerprint(sample)}
                       for label, sample in zip(labels, batch)]
            out.write(records)
            for record in records:
                _count(summary, record)
            if on_progress:
                on_progress(len(batch))
    return summary


def _count(summary: JudgeSummary, record: dict[str, Any]) -> None:
    summary.judged += 1
    summary.unscored += record["persona"] is None
    summary.votes += record.get("votes", 0)
    summary.unscored_votes += record.get("unscored_votes", 0)
    summary.wrong_sample_votes += record.get("wrong_sample_votes", 0)
    summary.errors += bool(record.get("judge_error"))
    for key in summary.counts:
        summary.counts[key][str(record[key]) if record[key] is not None else "unscored"] += 1

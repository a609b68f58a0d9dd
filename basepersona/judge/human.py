"""Hand labels of one run's samples, in the gold format, for validating a judge on that run.

`basepersona label RUN` draws a seeded sample stratified by condition and by a judge's current label,
saves every answer as soon as it is given (one gold record per line, fsynced), and can be resumed at
any time: the drawn plan and the skipped ids live next to the labels in ``<out>.plan.json``. Both
files name the run's samples by id and fingerprint, so labels are never mixed across runs.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from ..errors import UserError
from ..store import JsonlAppender, Run, read_jsonl, sample_fingerprint
from .base import Judge, Label

SAMPLE_FIELDS = ("id", "condition", "query_id", "query", "prefill", "continuation", "turn", "finish_reason")


def stratum(label: dict[str, Any] | None) -> str:
    """A judge label reduced to one word: broken, unscored, af, refused, partial, complied, undecided."""
    if label is None or label.get("persona") is None:
        return "unscored"
    if label["persona"] is False:
        return "broken"
    if label.get("af"):
        return "af"
    return label.get("compliance") or "undecided"


def draw_plan(samples: Sequence[dict[str, Any]], labels: dict[str, dict[str, Any]], n: int, seed: int) -> list[str]:
    """``n`` sample ids, stratified by (condition, judge label): proportional shares with at least one
    per stratum (largest remainders first), shuffled within strata by ``seed``, then interleaved so that
    stopping early still covers every stratum."""
    if n < 1:
        raise UserError(f"--n must be at least 1 (got {n})")
    strata: dict[tuple[str, str], list[str]] = defaultdict(list)
    for sample in samples:
        strata[(str(sample.get("condition")), stratum(labels.get(sample["id"])))].append(sample["id"])
    rng = random.Random(seed)
    keys = sorted(strata)
    for key in keys:
        rng.shuffle(strata[key])
    n = min(n, len(samples))
    total = len(samples)
    share = {key: n * len(strata[key]) / total for key in keys}
    take = {key: min(len(strata[key]), max(1, int(share[key]))) for key in keys}
    # fix the total: add to the largest remainders, or remove from the largest strata
    by_remainder = sorted(keys, key=lambda k: (share[k] - int(share[k]), len(strata[k])), reverse=True)
    while sum(take.values()) < n:
        for key in by_remainder:
            if sum(take.values()) < n and take[key] < len(strata[key]):
                take[key] += 1
    while sum(take.values()) > n:
        key = max(keys, key=lambda k: (take[k], k))
        take[key] -= 1
    chosen = {key: strata[key][:take[key]] for key in keys}
    order: list[str] = []
    for position in range(max(take.values(), default=0)):
        order.extend(chosen[key][position] for key in keys if position < len(chosen[key]))
    return order


class HumanGold:
    """The labels file and its plan; refuses files that belong to another run."""

    def __init__(self, run: Run, path: Path):
        self.run, self.path = run, path
        self.plan_path = path.with_name(path.name + ".plan.json")
        self.samples = {s["id"]: s for s in run.samples}

    # -- plan -----------------------------------------------------------------------------------------
    def load_plan(self) -> dict[str, Any] | None:
        if not self.plan_path.exists():
            return None
        try:
            plan = json.loads(self.plan_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise UserError(f"{self.plan_path} is not valid JSON; move it away to draw a new sample") from None
        fingerprints = plan.get("fingerprints", {})
        foreign = [i for i in plan.get("ids", []) if i not in self.samples
                   or fingerprints.get(i) != sample_fingerprint(self.samples[i])]
        if foreign:
            raise UserError(f"{self.plan_path} was drawn from another run (sample {foreign[0]!r} is not this run's); "
                            "pass --out to label into a new file")
        return plan

    def save_plan(self, plan: dict[str, Any]) -> None:
        plan["fingerprints"] = {i: sample_fingerprint(self.samples[i]) for i in plan["ids"]}
        self.plan_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.plan_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(plan, indent=1) + "\n", encoding="utf-8")
        tmp.replace(self.plan_path)

    # -- labels ---------------------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        try:
            records = list(read_jsonl(self.path))
        except json.JSONDecodeError as exc:
            raise UserError(f"{self.path} is not JSONL (line {exc.lineno}); fix or move it away") from None
        for record in records:
            sample = self.samples.get(record.get("id"))
            if sample is None or record.get("sample_hash") != sample_fingerprint(sample):
                raise UserError(f"{self.path} holds labels from another run (sample {record.get('id')!r} is not "
                                "this run's); pass --out to label this run into a new file")
        return records

    def append(self, record: dict[str, Any]) -> None:
        with JsonlAppender(self.path) as out:
            out.write([record])

    def remove(self, sample_id: str) -> None:
        """Drop the label of ``sample_id`` (undo), rewriting the file atomically."""
        kept = [r for r in self.records() if r["id"] != sample_id]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
        tmp.replace(self.path)


def gold_record(sample: dict[str, Any], persona: bool, compliance: str | None, considered_af: bool | None,
                af: bool | None) -> dict[str, Any]:
    """A gold-format record (corpora/gold/README.md) for one hand-labelled sample."""
    record = {k: sample[k] for k in SAMPLE_FIELDS if k in sample}
    if "turn" not in record:
        record["turn"] = (sample.get("prefill") or "") + (sample.get("continuation") or "")
    record.update(kind="human", sample_hash=sample_fingerprint(sample), note="labelled with `basepersona label`",
                  gold={"persona": persona, "compliance": compliance if persona else None,
                        "af": af if persona else None, "considered_af": considered_af if persona else None})
    return record


class StoredLabels(Judge):
    """A "judge" that answers with labels a judge already wrote for the run, so `validate` can score
    any label set (rules or an LLM judge's) on the hand labels without calling anything."""

    def __init__(self, name: str, labels: dict[str, dict[str, Any]]):
        self.name, self._labels = name, labels

    def judge(self, samples: Sequence[dict[str, Any]]) -> list[Label]:
        out = []
        for sample in samples:
            stored = self._labels.get(sample["id"], {})
            out.append(Label(id=sample["id"], judge=self.name, persona=stored.get("persona"),
                             compliance=stored.get("compliance"), af=stored.get("af"),
                             af_score=stored.get("af_score"), considered_af=stored.get("considered_af"),
                             compliance_score=stored.get("compliance_score")))
        return out

"""Leave-one-author-set-out validation of the trained judge: each gold set written by its own author is
scored by a judge fitted on all the others (heldout6, the blind test, is never fitted on or scored here).

    python benchmarks/trained_judge_cv.py [--sets heldout3,heldout4,...] [--real-frames]

By default the left-out sets are those the rules judge was never tuned on either, so the rules column
beside it is honest too; real1 (real output of a 270M base model, every turn a broken frame) shows how
often each judge takes such text for the AI speaking. About 30 s per set on one core.
"""

from __future__ import annotations

import argparse
from typing import Any

from basepersona.judge import make_judge
from basepersona.judge.trained import TRAINING_SETS, TrainedJudge
from basepersona.judge.trained_model import TrainedModels
from basepersona.judge.human import StoredLabels
from basepersona.judge.validate import GOLD_FIELDS, load_gold, validate
from basepersona.resources import data_dir

UNTUNED = ("heldout3", "heldout4", "heldout5", "dev4", "dev5", "dev6", "real1")


def fitted_on(records: list[dict[str, Any]], name: str) -> TrainedJudge:
    return TrainedJudge(fitted=(TrainedModels.fit(records), name))  # the shipped judge's code, other data


def fitted_without(left_out: str, sets: dict[str, list[dict[str, Any]]]) -> TrainedJudge:
    return fitted_on([r for name, records in sets.items() if name != left_out for r in records], f"without-{left_out}")


def real_frames(sets: dict[str, list[dict[str, Any]]]) -> None:
    """real1 holds one model's output in three frames: fit without one frame's part, count what it calls
    the AI speaking there (every one of them is a broken frame)."""
    others = [r for name, records in sets.items() if name != "real1" for r in records]
    for frame in sorted({r["kind"] for r in sets["real1"]}):
        left = [r for r in sets["real1"] if r["kind"] == frame]
        judge = fitted_on(others + [r for r in sets["real1"] if r["kind"] != frame], f"without-{frame}")
        labels = judge.judge(left)
        print(f"{frame}: {len(left)} broken frames, called persona {sum(bool(x.persona) for x in labels)}, "
              f"considered AF {sum(bool(x.considered_af) for x in labels)}, AF {sum(bool(x.af) for x in labels)}",
              flush=True)


def cell(task) -> str:
    return f"{task.accuracy:.3f} ({task.kappa:.2f})" if task.n else "-"  # e.g. real1: no persona turn to label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(UNTUNED), help="gold sets to leave out, one at a time")
    parser.add_argument("--real-frames", action="store_true", help="only: leave each frame of real1 out in turn")
    args = parser.parse_args()
    folder = data_dir("corpora") / "gold"
    sets = {name: load_gold(folder / f"{name}.jsonl") for name in TRAINING_SETS}
    if args.real_frames:
        real_frames(sets)
        return
    rules = make_judge("rules")
    pooled: dict[str, dict[str, dict[str, Any]]] = {"rules": {}, "trained": {}}  # judge -> id -> label
    print("| left out | judge | " + " | ".join(GOLD_FIELDS) + " |")
    print("|---|---|" + "---|" * len(GOLD_FIELDS))
    names = args.sets.split(",")
    for name in names:
        for judge_name, judge in (("rules", rules), ("trained", fitted_without(name, sets))):
            labels = {label.id: label.to_record() for label in judge.judge(sets[name])}  # judged once, scored twice
            pooled[judge_name].update(labels)
            print_row(f"{name} ({len(sets[name])})", judge_name, sets[name], labels)
    for judge_name, labels in pooled.items():
        print_row("all left-out sets", judge_name, [r for name in names for r in sets[name]], labels)


def print_row(title: str, judge_name: str, records: list[dict[str, Any]], labels: dict[str, dict[str, Any]]) -> None:
    report = validate(StoredLabels(judge_name, labels), records, title)
    print(f"| {title} | {judge_name} | " + " | ".join(cell(report.tasks[k]) for k in GOLD_FIELDS) + " |", flush=True)


if __name__ == "__main__":
    main()

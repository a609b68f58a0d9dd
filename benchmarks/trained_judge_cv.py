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
from basepersona.judge.validate import GOLD_FIELDS, load_gold, task_report, validate
from basepersona.resources import data_dir

UNTUNED = ("heldout3", "heldout4", "heldout5", "dev4", "dev5", "dev6", "real1")


def fitted_on(records: list[dict[str, Any]], name: str) -> TrainedJudge:
    judge = TrainedJudge.__new__(TrainedJudge)  # the shipped judge's code, fitted on other data
    judge.extra_gold, judge.training_hash = (), name
    judge.models = TrainedModels.fit(records)
    return judge


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
    pooled: dict[str, dict[str, tuple[list, list]]] = {"rules": {}, "trained": {}}
    print("| left out | judge | " + " | ".join(GOLD_FIELDS) + " |")
    print("|---|---|" + "---|" * len(GOLD_FIELDS))
    for name in args.sets.split(","):
        for judge_name, judge in (("rules", rules), ("trained", fitted_without(name, sets))):
            report = validate(judge, sets[name], name)
            print(f"| {name} ({len(sets[name])}) | {judge_name} | "
                  + " | ".join(cell(report.tasks[k]) for k in GOLD_FIELDS) + " |", flush=True)
            labels = judge.judge(sets[name])
            for k in GOLD_FIELDS:
                gold, pred = pooled[judge_name].setdefault(k, ([], []))
                kept = [(r["gold"][k], getattr(lab, k)) for r, lab in zip(sets[name], labels) if r["gold"][k] is not None]
                gold.extend(g for g, _ in kept)
                pred.extend(p for _, p in kept)
    for judge_name, tasks in pooled.items():
        print(f"| all left-out sets | {judge_name} | "
              + " | ".join(cell(task_report(k, *tasks[k])) for k in GOLD_FIELDS) + " |")


if __name__ == "__main__":
    main()

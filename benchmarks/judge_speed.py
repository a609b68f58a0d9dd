"""Offline judge throughput: samples judged per second on the gold set, repeated (and the trained
judge's one-off fitting time).

    python benchmarks/judge_speed.py [--repeat 20] [--judge rules|trained]
"""

from __future__ import annotations

import argparse
import json
import time

from basepersona.judge import make_judge
from basepersona.resources import data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="times the gold set is judged")
    parser.add_argument("--judge", default="rules", choices=["rules", "trained"])
    args = parser.parse_args()
    gold = data_dir("corpora") / "gold"
    records = [json.loads(line) for name in ("dev", "heldout")
               for line in (gold / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
    samples = records * args.repeat
    chars = sum(len(r["turn"]) for r in samples) / len(samples)
    start = time.perf_counter()
    judge = make_judge(args.judge)
    print(f"{args.judge} judge: built in {time.perf_counter() - start:.2f} s (the trained judge fits its models here)")
    judge.judge(records)  # warm-up: regex compilation and imports are not part of the rate
    start = time.perf_counter()
    judge.judge(samples)
    seconds = time.perf_counter() - start
    print(f"{args.judge} judge: {len(samples)} samples (mean {chars:.0f} characters) in {seconds:.2f} s "
          f"= {len(samples) / seconds:.0f} samples/s (one core)")


if __name__ == "__main__":
    main()

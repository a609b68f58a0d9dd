"""Overhead of basepersona's vllm backend over a raw ``LLM.generate`` call on the same prompts.

    python benchmarks/vllm_overhead.py --prompts 4 --n 16 --max-new-tokens 64 --repeats 3

Both paths share one engine (vLLM starts in ~2 minutes on a CPU) and draw the same samples: the
raw call gets ``SamplingParams(n, seed)`` per prompt, as the wrapper builds them. Prefix caching
is on for both, and the order alternates so neither always runs on a warm cache. Reports median
seconds of each path and the wrapper's extra time.
"""

from __future__ import annotations

import argparse
import statistics
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
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.25, help="on CPU: share of RAM for KV cache")
    args = parser.parse_args()
    backend = load_backend(args.model, "vllm", announce=lambda m: None, dtype="float32", max_model_len=4096,
                           gpu_memory_utilization=args.gpu_memory_utilization)
    texts = prompts(args.prompts)
    params = SamplingParams(temperature=1.0, max_new_tokens=args.max_new_tokens)
    requests = [SampleRequest(text, seeds=tuple(range(args.n))) for text in texts]
    raw_params = [backend.sampling_params(params, args.n, 0, ()) for _ in texts]

    def raw() -> int:
        outputs = backend.llm.generate(texts, raw_params, use_tqdm=False)
        return sum(len(child.token_ids) for output in outputs for child in output.outputs)

    def wrapped() -> int:
        return sum(c.new_tokens for group in backend.sample(requests, params) for c in group)

    raw(), wrapped()  # warm-up: compilation and the prompts' prefix cache
    timings: dict[str, list[float]] = {"raw LLM.generate": [], "basepersona vllm backend": []}
    tokens = {}
    for repeat in range(args.repeats):
        order = [("raw LLM.generate", raw), ("basepersona vllm backend", wrapped)]
        for name, call in order if repeat % 2 == 0 else order[::-1]:
            began = time.perf_counter()
            tokens[name] = call()
            timings[name].append(time.perf_counter() - began)
    print(f"{args.model}: {args.prompts} prompts x n={args.n}, max_new_tokens={args.max_new_tokens}, {args.repeats} repeats")
    print("| path | median s | all runs s | new tokens | tokens/s |")
    print("|---|---|---|---|---|")
    for name, runs in timings.items():
        median = statistics.median(runs)
        print(f"| {name} | {median:.2f} | {', '.join(f'{r:.2f}' for r in runs)} | {tokens[name]} | {tokens[name] / median:.1f} |")
    extra = statistics.median(timings["basepersona vllm backend"]) - statistics.median(timings["raw LLM.generate"])
    print(f"wrapper overhead: {extra:+.2f} s ({extra / statistics.median(timings['raw LLM.generate']):+.1%}); "
          f"same new tokens: {tokens['raw LLM.generate'] == tokens['basepersona vllm backend']}")


if __name__ == "__main__":
    main()

"""Sampling throughput: naive `generate(num_return_sequences=n)` vs basepersona's prefix-reusing sampler.

Same model, frame, prompt (~1.5k tokens: the forum frame, full scenario) and sampling parameters;
both paths generate exactly --new-tokens tokens per sample (no early stop) so the work is equal.

    python benchmarks/sample_throughput.py [--model embedded:gemma-3-270m] [--n 16] [--new-tokens 128]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from basepersona.backends import SampleRequest, SamplingParams, load_backend
from basepersona.frames import FrameLibrary
from basepersona.queries import load_queries
from basepersona.scenario import load_scenario


def forum_prompt() -> str:
    scenario = load_scenario()
    query = load_queries().queries[0]
    return FrameLibrary().get("forum").render(scenario, scenario.condition("training"), query.text,
                                              query_id=query.id).text


def naive(backend, prompt: str, n: int, new_tokens: int) -> float:
    inputs = backend.tokenizer(prompt, return_tensors="pt").to(backend.device)
    began = time.perf_counter()
    with torch.inference_mode():
        backend.model.generate(**inputs, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                               num_return_sequences=n, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                               suppress_tokens=backend.banned_ids.tolist() if backend.banned_ids is not None else None)
    return time.perf_counter() - began


def ours(backend, prompt: str, n: int, new_tokens: int) -> float:
    backend._prefix = None  # measure a cold start: the prompt's prefill is part of the cost
    backend.eos_ids = set()  # like min_new_tokens above: every sample runs to the full length
    began = time.perf_counter()
    for _ in backend.sample([SampleRequest(prompt, seeds=tuple(range(n)))], SamplingParams(max_new_tokens=new_tokens)):
        pass
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded:gemma-3-270m")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=128)
    args = parser.parse_args()
    backend = load_backend(args.model, device="cpu" if not torch.cuda.is_available() else "auto")
    prompt = forum_prompt()
    prompt_tokens = backend.count_tokens(prompt)
    print(f"model {args.model}, prompt {prompt_tokens} tokens, n={args.n}, {args.new_tokens} new tokens each, "
          f"{torch.get_num_threads()} threads")
    total_tokens = args.n * args.new_tokens
    results = {}
    for name, path in (("naive generate(num_return_sequences)", naive), ("basepersona sampler", ours)):
        seconds = path(backend, prompt, args.n, args.new_tokens)
        results[name] = seconds
        print(f"{name:40s} {seconds:7.1f} s  {args.n / seconds:6.3f} samples/s  {total_tokens / seconds:7.1f} tokens/s")
    speedup = results["naive generate(num_return_sequences)"] / results["basepersona sampler"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"speed-up {speedup:.2f}x   peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()

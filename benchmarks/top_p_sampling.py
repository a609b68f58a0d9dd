"""Top-p sampling with and without the candidate shortcut, on the embedded model and a real prompt.

    python benchmarks/top_p_sampling.py [--n 32] [--new-tokens 64] [--top-p 0.95]

Runs the transformers backend twice on the forum prompt (one load): once sorting the whole
vocabulary at every step (the shortcut switched off) and once as shipped (the most likely 1024, then
16384, tokens tried first; backends/token_sampling.py). Same seeds, so the samples must be identical;
prints tokens/s of both and how often each step needed more than the first candidates.
"""

from __future__ import annotations

import argparse
import time

from basepersona.backends import SampleRequest, SamplingParams, load_backend, token_sampling
from sample_throughput import MODEL, forum_prompt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--top-p", type=float, default=0.95)
    args = parser.parse_args()
    backend = load_backend(MODEL, device="cpu", announce=lambda m: None)
    backend.eos_ids = set()  # every sample runs to full length, so both runs do equal work
    request = [SampleRequest(forum_prompt(), seeds=tuple(range(args.n)))]
    params = SamplingParams(top_p=args.top_p, max_new_tokens=args.new_tokens)
    tries = token_sampling.NUCLEUS_TRIES
    widened = []
    original = token_sampling.torch.topk

    def counting_topk(values, k, *rest, **options):
        if k != tries[0]:
            widened.append(k)
        return original(values, k, *rest, **options)

    texts, rates = {}, {}
    for name, shortcut in (("full sort every step", ()), ("as shipped", tries)):
        token_sampling.NUCLEUS_TRIES = shortcut
        token_sampling.torch.topk = counting_topk
        began = time.perf_counter()
        completions = [c for group in backend.sample(request, params) for c in group]
        seconds = time.perf_counter() - began
        token_sampling.torch.topk = original
        texts[name] = [c.text for c in completions]
        rates[name] = sum(c.new_tokens for c in completions) / seconds
        print(f"{name}: {rates[name]:.1f} tokens/s ({seconds:.1f} s)", flush=True)
    token_sampling.NUCLEUS_TRIES = tries
    steps = args.new_tokens
    print(f"top_p={args.top_p}, n={args.n} x {args.new_tokens}: {rates['as shipped'] / rates['full sort every step']:.2f}x; "
          f"steps needing the 16384-candidate try: {widened.count(tries[1])} of {steps}; identical samples: "
          f"{texts['as shipped'] == texts['full sort every step']}")


if __name__ == "__main__":
    main()

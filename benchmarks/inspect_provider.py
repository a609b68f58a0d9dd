"""What basepersona's inspect provider keeps of the transformers backend's batching.

    python benchmarks/inspect_provider.py                         # embedded Gemma 3 270M base
    python benchmarks/inspect_provider.py --model DIR --limit 2 --epochs 8 --max-tokens 32

Three ways to draw the same samples (limit queries x 2 conditions x epochs, compact scenario):
``basepersona sample`` in-process (run_sampling), ``inspect eval`` through ``--model basepersona/...``
with coalescing, and the same provider with coalescing off (max_coalesce=1: one backend call per
sample, what a plain ModelAPI does). One model load serves all three. Prints seconds and samples/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import basepersona as bp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--limit", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--uncoalesced", action="store_true", help="also time the provider with coalescing off (slow)")
    args = parser.parse_args()

    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    from basepersona.inspect import alignment_faking

    backend = bp.load_backend(args.model, device="cpu", announce=lambda message: None)
    warm = bp.render_design(limit=1, scenario_form="compact").prompts[0]
    list(backend.sample([bp.SampleRequest(warm.text, (0,))], bp.SamplingParams(max_new_tokens=2)))  # first-call costs
    samples = 2 * args.limit * args.epochs
    print(f"model {backend.info.model_id}: {args.limit} queries x 2 conditions x {args.epochs} samples = {samples}, "
          f"{args.max_tokens} new tokens at most")
    with tempfile.TemporaryDirectory() as folder:
        config = bp.SampleConfig.build(model=backend.info.model_id, limit=args.limit, n=args.epochs, scenario_form="compact",
                                 sampling=bp.SamplingParams(max_new_tokens=args.max_tokens))

        def sample(label: str) -> None:
            began = time.perf_counter()
            bp.run_sampling(config, Path(tempfile.mkdtemp(dir=folder)) / "run", backend=backend)
            report(label, time.perf_counter() - began, samples)

        def provider(label: str, cap: int | None) -> None:
            model = get_model(f"basepersona/{backend.info.model_id}", backend=backend, max_coalesce=cap)
            task = alignment_faking(limit=args.limit, n=args.epochs, max_tokens=args.max_tokens, scenario_form="compact")
            began = time.perf_counter()
            inspect_eval(task, model=model, log_dir=str(Path(folder) / "logs"), display="none")
            calls = model.api.coalescer.calls
            report(label, time.perf_counter() - began, samples, f"{len(calls)} backend calls, largest {max(calls)}")

        # alternating, so that a slow start or a busy machine shows as a difference between the two sample rows
        sample("basepersona sample")
        provider("inspect + basepersona provider", None)
        sample("basepersona sample (again)")
        if args.uncoalesced:
            provider("inspect, coalescing off", 1)


def report(label: str, seconds: float, samples: int, extra: str = "") -> None:
    print(f"{label:34s} {seconds:7.1f} s  {samples / seconds:6.2f} samples/s  {extra}")


if __name__ == "__main__":
    main()

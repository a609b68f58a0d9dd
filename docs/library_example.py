"""Sample, judge and analyse in one process with basepersona's public API (no run folder, no CLI).

    python docs/library_example.py                      # the embedded Gemma 3 270M base model
    python docs/library_example.py --model PATH --limit 5 --n 4

It renders the design (condition x query prompts), samples every prompt n times with per-sample seeds,
turns each continuation into a record, judges the records with the offline rules judge, and prints the
per-condition rates and the training-minus-unmonitored gaps with query-clustered intervals.
"""

from __future__ import annotations

import argparse

import basepersona as bp


def sample_records(design: bp.Design, backend: bp.Backend, n: int, params: bp.SamplingParams) -> list[dict]:
    requests = [bp.SampleRequest(prompt.text, seeds=tuple(range(n)), stop=prompt.stop_strings, rng_key=prompt.query_id)
                for prompt in design]
    records = []
    for finished in backend.sample(requests, params):  # groups arrive as they finish
        for completion in finished:
            records.append(bp.completion_record(
                design.prompts[completion.request_index], completion.text, sample_index=completion.seed_index,
                seed=completion.seed_index, model=backend.info.model_id, finish_reason=completion.finish_reason,
                new_tokens=completion.new_tokens))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory, .gguf, hub id (default: embedded base model)")
    parser.add_argument("--frame", default="chatlog")
    parser.add_argument("--limit", type=int, default=3, help="first N queries")
    parser.add_argument("--n", type=int, default=2, help="samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()

    backend = bp.load_backend(args.model, device="cpu", announce=lambda message: None)
    design = bp.render_design(frame=args.frame, limit=args.limit, scenario_form="compact",
                              chat_formatter=backend.chat_prompt)
    records = sample_records(design, backend, args.n, bp.SamplingParams(max_new_tokens=args.max_new_tokens))
    print(f"{len(records)} samples from {backend.info.model_id} in frame {design.frame}")

    labels = bp.make_judge("rules").judge(records)
    for condition in design.conditions:
        persona = bp.rate(records, labels, condition, outcome="persona")
        print(f"{condition}: persona {persona.estimate:.2f} [{persona.low:.2f}, {persona.high:.2f}]")
    for outcome in ("persona", "compliance", "af"):
        result = bp.gap(records, labels, outcome=outcome)
        print(f"{outcome} gap {result.estimate:+.3f} [{result.low:+.3f}, {result.high:+.3f}] "
              f"p={result.p_value:.3g} ({result.test}; {result.note or f'{result.n_queries} queries'})")


if __name__ == "__main__":
    main()

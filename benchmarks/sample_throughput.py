"""Sampling throughput of every path side by side: naive HF, prefix reuse, basepersona, llama.cpp.

Same model, prompt (the forum frame with the full scenario, ~1.5k tokens) and sampling settings
(temperature 1, no truncation) for every path; each sample runs to exactly --new-tokens tokens
(end-of-text disabled) so the work is equal. Each path runs in a fresh process, so its peak RSS
is its own and no path inherits another's warm caches.

    python benchmarks/sample_throughput.py                     # n=32 x 128 tokens, every path here
    python benchmarks/sample_throughput.py --n 16 --paths naive,basepersona

Paths:
  naive        transformers ``generate(num_return_sequences=n)``: the prompt is prefilled n times
  prefix-copy  prefill once, copy the KV cache to n rows, decode (basepersona before its decode-step work)
  basepersona  the transformers backend as shipped: prompt keys/values read once per step for all rows,
               decode products as W @ x.T (backends/shared_prefix.py, backends/decode_linear.py)
  llamacpp     llama-cpp-python on the same GGUF, its own sampler, one stream per sample with the prompt's
               KV reused (the fastest way that library draws n samples); needs ``basepersona[llamacpp]``

The roofline is the fp32 compute limit: FLOPs per generated token (every matrix product of the
model, the 262k-vocabulary output projection included, plus attention over the context) times
tokens/s, against three limits: the CPU's fp32 peak measured by an AVX2 FMA loop on all threads
(benchmarks/fp32_peak.py; needs a C compiler), a nominal peak (--nominal-gflops, default 190 =
2 cores x 2 FMA units x 8 floats x 2 x ~3 GHz, which assumes 256-bit FMA units: AMD Zen 1 has
128-bit ones and peaks at half), and the sgemm rate this process measures.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import resource
import subprocess
import time

MODEL = "embedded:gemma-3-270m"


def forum_prompt() -> str:
    from basepersona.frames import FrameLibrary
    from basepersona.queries import load_queries
    from basepersona.scenario import load_scenario

    scenario = load_scenario()
    query = load_queries().queries[0]
    return FrameLibrary().get("forum").render(scenario, scenario.condition("training"), query.text,
                                              query_id=query.id).text


def _transformers(prompt: str, n: int, new_tokens: int, *, naive: bool, shared_prefix_attention: bool) -> dict:
    import torch

    from basepersona.backends import SampleRequest, SamplingParams, load_backend

    began = time.perf_counter()
    backend = load_backend(MODEL, device="cpu", announce=lambda m: None,
                           shared_prefix_attention=shared_prefix_attention, transposed_linears=shared_prefix_attention)
    load_seconds = time.perf_counter() - began
    prompt_tokens = backend.count_tokens(prompt)
    if naive:
        inputs = backend.tokenizer(prompt, return_tensors="pt")
        banned = backend.banned_ids.tolist() if backend.banned_ids is not None else None
        began = time.perf_counter()
        with torch.inference_mode():
            output = backend.model.generate(**inputs, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                                            num_return_sequences=n, max_new_tokens=new_tokens,
                                            min_new_tokens=new_tokens, suppress_tokens=banned)
        seconds = time.perf_counter() - began
        tokens = (output.shape[1] - inputs["input_ids"].shape[1]) * n
    else:
        backend.eos_ids = set()  # as min_new_tokens above: every sample runs to full length
        began = time.perf_counter()
        groups = list(backend.sample([SampleRequest(prompt, seeds=tuple(range(n)))],
                                     SamplingParams(max_new_tokens=new_tokens)))
        seconds = time.perf_counter() - began
        tokens = sum(c.new_tokens for group in groups for c in group)
    return {"load_seconds": load_seconds, "seconds": seconds, "tokens": tokens, "prompt_tokens": prompt_tokens}


def _llamacpp(prompt: str, n: int, new_tokens: int, threads: int) -> dict:
    import llama_cpp

    from basepersona.backends.llamacpp_backend import locate_gguf

    path, _ = locate_gguf(MODEL)
    began = time.perf_counter()
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=4096, n_batch=512, n_threads=threads, verbose=False)
    load_seconds = time.perf_counter() - began
    ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
    tokens = 0
    began = time.perf_counter()
    for seed in range(n):
        llm.set_seed(seed)
        # generate() re-evaluates only the tokens that differ from its KV cache: the prompt once, then one token
        stream = llm.generate(ids, top_k=0, top_p=1.0, min_p=0.0, typical_p=1.0, temp=1.0, repeat_penalty=1.0)
        for count, _token in enumerate(stream, start=1):  # end-of-text is not checked: full length, as above
            if count == new_tokens:
                break
        stream.close()
        tokens += count
    return {"load_seconds": load_seconds, "seconds": time.perf_counter() - began, "tokens": tokens,
            "prompt_tokens": len(ids)}


def _run_path(name: str, prompt: str, n: int, new_tokens: int, threads: int, queue) -> None:
    import torch

    torch.set_num_threads(threads)
    if name == "llamacpp":
        result = _llamacpp(prompt, n, new_tokens, threads)
    else:
        result = _transformers(prompt, n, new_tokens, naive=name == "naive",
                               shared_prefix_attention=name == "basepersona")
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(result)


def run_in_fresh_process(name: str, prompt: str, n: int, new_tokens: int, threads: int) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_run_path, args=(name, prompt, n, new_tokens, threads, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def flops_per_token(context_tokens: int) -> float:
    """Forward FLOPs of one decoded token of the default model at a given context length."""
    from transformers import AutoConfig

    from basepersona.models import resolve_model

    config = AutoConfig.from_pretrained(resolve_model(MODEL, lambda m: None).load_path)
    hidden, heads, kv_heads, head_dim = (config.hidden_size, config.num_attention_heads,
                                         config.num_key_value_heads, config.head_dim)
    attention_weights = hidden * head_dim * (2 * heads + 2 * kv_heads)  # q, o and k, v projections
    mlp_weights = 3 * hidden * config.intermediate_size  # gate, up, down
    output_projection = hidden * config.vocab_size
    matmul = 2 * (config.num_hidden_layers * (attention_weights + mlp_weights) + output_projection)
    attention = 0
    for layer_type in config.layer_types:  # scores and weighted values: 2 products of heads x head_dim x context
        seen = min(context_tokens, config.sliding_window) if layer_type == "sliding_attention" else context_tokens
        attention += 2 * 2 * heads * head_dim * seen
    return float(matmul + attention)


def measured_sgemm_gflops(threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        for _ in range(4):
            a @ b
        best = min(best, time.perf_counter() - began)
    return 4 * 2 * 2048**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--paths", default="naive,prefix-copy,basepersona,llamacpp")
    parser.add_argument("--threads", type=int, default=multiprocessing.cpu_count())
    parser.add_argument("--nominal-gflops", type=float, default=190.0, help="the CPU's fp32 peak, for the roofline")
    args = parser.parse_args()
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if "llamacpp" in paths and importlib.util.find_spec("llama_cpp") is None:
        print("llamacpp: skipped (pip install 'basepersona[llamacpp]')")
        paths.remove("llamacpp")
    prompt = forum_prompt()
    sgemm = measured_sgemm_gflops(args.threads)
    try:
        from fp32_peak import peak_gflops  # benchmarks/ is on sys.path when this file runs as a script

        peak = peak_gflops(args.threads)
    except (ImportError, RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        print(f"fp32 peak not measured ({exc}); using the nominal {args.nominal_gflops:.0f} GFLOP/s")
        peak = args.nominal_gflops
    results = {}
    for name in paths:
        results[name] = run_in_fresh_process(name, prompt, args.n, args.new_tokens, args.threads)
        r = results[name]
        print(f"{name}: {r['tokens']} tokens in {r['seconds']:.1f} s", flush=True)
    prompt_tokens = next(iter(results.values()))["prompt_tokens"]
    flops = flops_per_token(prompt_tokens + args.new_tokens // 2)
    roofline = peak * 1e9 / flops
    print(f"\n{MODEL}, prompt {prompt_tokens} tokens, n={args.n} x {args.new_tokens} new tokens, "
          f"temperature 1, {args.threads} threads")
    print(f"{flops / 1e6:.0f} MFLOP per token; fp32 roofline {roofline:.0f} tokens/s at the measured FMA peak "
          f"{peak:.1f} GFLOP/s; nominal {args.nominal_gflops:.0f} GFLOP/s; measured sgemm (2048^3) {sgemm:.1f} GFLOP/s")
    print("| path | load s | sample s | samples/s | tokens/s | x naive | x llamacpp | % fp32 roofline (measured "
          "peak) | % nominal | % of measured sgemm | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rate = {name: r["tokens"] / r["seconds"] for name, r in results.items()}
    for name, r in results.items():
        versus_naive = f"{rate[name] / rate['naive']:.2f}" if "naive" in rate else "-"
        versus_llama = f"{rate[name] / rate['llamacpp']:.2f}" if "llamacpp" in rate else "-"
        achieved = rate[name] * flops / 1e9
        print(f"| {name} | {r['load_seconds']:.1f} | {r['seconds']:.1f} | {args.n / r['seconds']:.3f} | "
              f"{rate[name]:.1f} | {versus_naive} | {versus_llama} | {100 * achieved / peak:.1f} | "
              f"{100 * achieved / args.nominal_gflops:.1f} | "
              f"{100 * achieved / sgemm:.0f} | {r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()

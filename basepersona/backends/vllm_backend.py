"""vLLM backend (offline ``vllm.LLM``), for GPUs and multi-GPU / multi-node (Ray) runs.

Seeds: a request's samples with consecutive seeds s, s+1, ..., s+k-1 go out as one
``SamplingParams(n=k, seed=s)``; vLLM gives child i the seed s + i, so sample j of a run gets the
engine seed ``run seed + j`` exactly as its record says (a resumed run with gaps sends one
SamplingParams per consecutive run of seeds). Every sampling parameter is set explicitly
(``max_tokens`` would default to 16). Special tokens get a -100 logit bias (vLLM's floor), so they
are never sampled, not merely hidden from the text. Prefix caching is on: the n children and all
prompts sharing the scenario text reuse one prefill.
"""

from __future__ import annotations

import time
from typing import Any, Iterator, Sequence

from ..errors import UserError
from ..models import resolve_model
from ..records import FinishReason
from .base import Completion, ContinuationScore, ModelInfo, SampleRequest, SamplingParams
from .forced_choice import continuation_ids, token_encoder
from .vocabulary import control_token_ids
from .options import check_options, option_number, require_extra
from .seeds import seed_runs
from .transformers_backend import TransformersBackend

OPTIONS = ("tensor_parallel_size", "pipeline_parallel_size", "distributed_executor_backend", "dtype",
           "trust_remote_code", "max_model_len", "gpu_memory_utilization", "chunk_prompts", "engine_args",
           "revision", "announce")
BANNED_BIAS = -100.0  # vLLM clamps logit_bias to [-100, 100]


def top_k_off(version: str) -> int:
    """The top_k that means "off": vLLM accepts 0 since 0.9.0 (PR #17773, May 2025); before, only -1."""
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        parts.append(int(digits) if digits else 0)
    return -1 if tuple(parts) < (0, 9) else 0


class VLLMBackend:
    def __init__(self, llm: Any, info: ModelInfo, *, chunk_prompts: int = 256, no_top_k: int = 0):
        self.llm = llm
        self.no_top_k = no_top_k
        self.tokenizer = llm.get_tokenizer()
        self.info = info
        self.chunk_prompts = chunk_prompts
        self._banned = self._special_ids()

    # The transformers backend's template rendering only needs .tokenizer and .info; share it.
    chat_prompt = TransformersBackend.chat_prompt

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def sampling_params(self, params: SamplingParams, n: int, seed: int, stop: Sequence[str]) -> Any:
        from vllm import SamplingParams as VSamplingParams

        return VSamplingParams(
            n=n, seed=seed, temperature=params.temperature, top_p=params.top_p, top_k=params.top_k or self.no_top_k,
            min_p=0.0, max_tokens=params.max_new_tokens, min_tokens=0, presence_penalty=0.0,
            frequency_penalty=0.0, repetition_penalty=1.0, stop=list(stop), include_stop_str_in_output=True,
            skip_special_tokens=True, ignore_eos=False, logit_bias=self._banned or None)

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> Iterator[list[Completion]]:
        # vLLM refuses n > 1 for greedy sampling, so greedy samples go one per SamplingParams
        runs = seed_runs if params.temperature > 0 else (lambda seeds: [(i,) for i in range(len(seeds))])
        groups = [(index, run) for index, request in enumerate(requests) for run in runs(request.seeds)]
        for start in range(0, len(groups), self.chunk_prompts):
            chunk = groups[start:start + self.chunk_prompts]
            began = time.perf_counter()
            outputs = self.llm.generate(
                [requests[index].prompt for index, _ in chunk],
                [self.sampling_params(params, len(run), requests[index].seeds[run[0]], requests[index].stop)
                 for index, run in chunk],
                use_tqdm=False)
            seconds = (time.perf_counter() - began) / sum(len(run) for _, run in chunk)
            for (index, run), output in zip(chunk, outputs):
                yield [self._completion(index, run[child.index], child, len(output.prompt_token_ids), seconds)
                       for child in sorted(output.outputs, key=lambda c: c.index)]

    def continuation_logprobs(self, prompts: Sequence[str], continuations: Sequence[str]):
        from vllm import SamplingParams as VSamplingParams
        from vllm.inputs import TokensPrompt

        encode = token_encoder(self.tokenizer)
        # max_tokens=1: vLLM must generate something; prompt_logprobs=0 returns each prompt token's own logprob
        params = VSamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, seed=0)
        for start in range(0, len(prompts), self.chunk_prompts):
            batch, spans = [], []
            for prompt in prompts[start:start + self.chunk_prompts]:
                ids = encode(prompt, True)
                for continuation in continuations:
                    tail = continuation_ids(encode, ids, prompt, continuation)
                    batch.append(TokensPrompt(prompt_token_ids=ids + tail))
                    spans.append((len(ids), len(ids) + len(tail)))
            outputs = self.llm.generate(batch, params, use_tqdm=False)
            for k in range(0, len(outputs), len(continuations)):
                scores = []
                for output, (first, end) in zip(outputs[k:k + len(continuations)], spans[k:k + len(continuations)]):
                    token_ids = output.prompt_token_ids
                    total = sum(output.prompt_logprobs[p][token_ids[p]].logprob for p in range(first, end))
                    scores.append(ContinuationScore(float(total), end - first))
                yield start + k // len(continuations), scores

    def _completion(self, index: int, seed_index: int, child: Any, prompt_tokens: int, seconds: float) -> Completion:
        stopped_by_string = child.finish_reason == "stop" and isinstance(child.stop_reason, str)
        reason: FinishReason = "stop" if stopped_by_string else ("length" if child.finish_reason == "length" else "eos")
        return Completion(request_index=index, seed_index=seed_index, text=child.text, new_tokens=len(child.token_ids),
                          finish_reason=reason, stop_sequence=child.stop_reason if stopped_by_string else None,
                          prompt_tokens=prompt_tokens, seconds=seconds)

    def _special_ids(self) -> dict[int, float]:
        """Control tokens (e.g. Gemma's <start_of_image>) other than end-of-text, biased to -100."""
        eos = getattr(self.tokenizer, "eos_token_id", None)
        return {i: BANNED_BIAS for i in sorted(control_token_ids(self.tokenizer)) if i != eos}


def load_vllm_backend(model: str | None, **options: Any) -> VLLMBackend:
    options = check_options("vllm", options, OPTIONS)
    vllm = require_extra("vllm", "vllm", "vllm")
    announce = options.pop("announce", print)
    resolved = resolve_model(model, announce)
    engine_args = dict(options.pop("engine_args", None) or {})
    chunk_prompts = option_number("chunk_prompts", options.pop("chunk_prompts", 256), int, 1)
    settings = {"enable_prefix_caching": True, "dtype": "auto", **options, **engine_args}
    try:
        llm = vllm.LLM(model=resolved.load_path, **settings)
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else repr(exc)
        raise UserError(f"vLLM cannot load {resolved.model_id!r}: {first_line} (vLLM's log above has the cause; on a "
                        "CPU, -o gpu_memory_utilization=0.3 sets the share of RAM it reserves)") from None
    has_template = bool(getattr(llm.get_tokenizer(), "chat_template", None))
    info = ModelInfo(model_id=resolved.model_id, backend="vllm", revision=resolved.revision or options.get("revision"),
                     has_chat_template=has_template,
                     extra={"kind": resolved.kind_hint or ("chat" if has_template else "base"), "vllm": vllm.__version__,
                            "engine": {k: v for k, v in settings.items() if k != "revision"},
                            "seeds": "samples with consecutive seeds s..s+k-1 of a prompt go as SamplingParams(n=k, "
                                     "seed=s); vLLM gives child i seed s+i"})
    return VLLMBackend(llm, info, chunk_prompts=chunk_prompts, no_top_k=top_k_off(vllm.__version__))

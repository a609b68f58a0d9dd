"""llama.cpp backend (llama-cpp-python) for CPU users with GGUF files: the fastest CPU path measured.

One stream per sample, drawn one after another: llama-cpp-python keeps the evaluated tokens in its
KV cache and ``generate`` re-evaluates only what differs from them, so the n samples of a prompt
prefill it once (plus one token each) and consecutive prompts reuse their shared scenario prefix.
The stop-string, end-of-text and special-token rules are the transformers backend's: the text ends
with the stop string that ended it, and control tokens (other than end-of-generation) are banned.
A logits processor applies the temperature before top-k/top-p (llama.cpp's own chain truncates
first), so truncation means the same thing on every backend; the engine seed is the sample's seed.

Forced-choice scores come from the last position's logits after each evaluated token, so the model
loads without ``logits_all`` (which would hold n_ctx x vocabulary floats: 8.6 GB for Gemma's 262k
vocabulary at n_ctx 8192). A continuation of k tokens costs k one-token evaluations on top of the
prompt, whose KV cache is reused as in sampling.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import UserError
from ..models import EMBEDDED, file_sha256
from ..records import FinishReason
from .base import Completion, ContinuationScore, ModelInfo, SampleRequest, SamplingParams
from .forced_choice import continuation_ids
from .options import check_options, require_extra

OPTIONS = ("n_ctx", "n_threads", "n_batch", "n_gpu_layers", "announce")
# GGUF token types that are never text: unknown, control, unused (end-of-generation tokens excepted)
_BANNED_ATTRS = ("LLAMA_TOKEN_ATTR_UNKNOWN", "LLAMA_TOKEN_ATTR_CONTROL", "LLAMA_TOKEN_ATTR_UNUSED")


def locate_gguf(spec: str | None) -> tuple[Path, str]:
    """(GGUF path, model id) for a .gguf path or an embedded:NAME model."""
    spec = spec or "embedded:gemma-3-270m"
    if spec.startswith("embedded:"):
        name = spec.split(":", 1)[1]
        if name not in EMBEDDED:
            raise UserError(f"unknown embedded model {name!r}; known: {', '.join('embedded:' + n for n in EMBEDDED)}")
        return EMBEDDED[name].locate_gguf(), spec
    path = Path(spec).expanduser()
    if path.suffix != ".gguf" or not path.is_file():
        raise UserError(f"the llamacpp backend loads a .gguf file or embedded:NAME; {spec!r} is neither")
    return path, spec


class LlamaCppBackend:
    def __init__(self, llm: Any, info: ModelInfo):
        import llama_cpp

        self.llm = llm
        self.info = info
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        flags = 0
        for name in _BANNED_ATTRS:
            flags |= getattr(llama_cpp, name, 0)
        self.eog = {t for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)}
        self.banned = np.array([t for t in range(llm.n_vocab())
                                if llama_cpp.llama_vocab_get_attr(vocab, t) & flags and t not in self.eog], dtype=np.int64)
        self._template = llm.metadata.get("tokenizer.chat_template")

    # -- protocol ---------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return len(self._encode(text))

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
        if not self._template:
            raise UserError(f"model {self.info.model_id} has no chat template (a base model?); use a document frame")
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        bos = self.llm.detokenize([self.llm.token_bos()], special=True).decode("utf-8", "replace")
        eos = self.llm.detokenize([self.llm.token_eos()], special=True).decode("utf-8", "replace")
        formatter = Jinja2ChatFormatter(self._template, eos_token=eos, bos_token=bos, add_generation_prompt=True)
        return formatter(messages=list(messages)).prompt

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> Iterator[list[Completion]]:
        for index, request in enumerate(requests):
            ids = self._encode(request.prompt)
            if not ids:
                raise UserError(f"prompt {index} is empty after tokenisation")
            if len(ids) + params.max_new_tokens > self.llm.n_ctx():
                raise UserError(f"prompt {index} ({len(ids)} tokens) plus {params.max_new_tokens} new tokens exceeds "
                                f"the context of {self.llm.n_ctx()}; pass -o n_ctx=<larger>")
            for seed_index, seed in enumerate(request.seeds):
                began = time.perf_counter()
                completion = self._one(ids, seed, request.stop, params)
                completion.request_index, completion.seed_index = index, seed_index
                completion.seconds = time.perf_counter() - began
                yield [completion]

    def continuation_logprobs(self, prompts: Sequence[str], continuations: Sequence[str]):
        def encode(text: str, special: bool) -> list[int]:
            return self._encode(text, add_bos=special)

        for index, prompt in enumerate(prompts):
            ids = self._encode(prompt)
            scores = []
            for continuation in continuations:
                tail = continuation_ids(encode, ids, prompt, continuation)
                total = 0.0
                for k, token in enumerate(tail):  # log P(tail[k] | prompt, tail[:k])
                    total += float(self._next_logprobs(ids + tail[:k])[token])
                scores.append(ContinuationScore(total, len(tail)))
            yield index, scores

    # -- internals -------------------------------------------------------------------------------
    def _encode(self, text: str, add_bos: bool = True) -> list[int]:
        # special=True parses control-token text (chat templates) as the transformers tokenizer does
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def _next_logprobs(self, ids: list[int]) -> np.ndarray:
        """Log-softmax of the model's raw logits after ``ids``, evaluating only what the KV cache lacks."""
        llm = self.llm
        if len(ids) > llm.n_ctx():
            raise UserError(f"a prompt of {len(ids)} tokens exceeds the context of {llm.n_ctx()}; pass -o n_ctx=<larger>")
        keep = 0
        for cached, wanted in zip(llm.input_ids[:llm.n_tokens].tolist(), ids[:-1]):  # re-feed >= 1 token: fresh logits
            if cached != wanted:
                break
            keep += 1
        if not llm._ctx.kv_cache_seq_rm(-1, keep, -1):  # some caches (sliding-window) cannot drop a tail
            llm.reset()
            keep = 0
        llm.n_tokens = keep
        # llama.cpp's logits depend on the batch they were computed in (Q4_K Gemma 270M: up to ~0.3 nats
        # between one-token and whole-prompt batches), so the scored position is always decoded alone:
        # a continuation's score then does not depend on which continuation or prompt went before
        if keep < len(ids) - 1:
            llm.eval(ids[keep:-1])
        llm.eval(ids[-1:])
        logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),)).astype(np.float64)
        return logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))

    def _processor(self, temperature: float):
        banned = self.banned

        def process(_input_ids: Any, logits: np.ndarray) -> np.ndarray:
            if temperature > 0:
                logits = logits / temperature
            logits[banned] = -np.inf
            return logits

        return process

    def _one(self, ids: list[int], seed: int, stop: Sequence[str], params: SamplingParams) -> Completion:
        self.llm.set_seed(seed)
        tokens: list[int] = []
        text, hit = "", None
        reason: FinishReason = "length"
        longest_stop = max((len(s) for s in stop), default=0)
        # temperature is applied by the processor; the chain's own temp is 1 (or greedy at 0)
        stream = self.llm.generate(ids, top_k=params.top_k, top_p=params.top_p, min_p=0.0, typical_p=1.0,
                                   temp=0.0 if params.temperature == 0 else 1.0, repeat_penalty=1.0,
                                   frequency_penalty=0.0, presence_penalty=0.0,
                                   logits_processor=[self._processor(params.temperature)])
        for token in stream:
            if token in self.eog:
                reason = "eos"
                break
            tokens.append(token)
            previous = len(text)
            text = self.llm.detokenize(tokens).decode("utf-8", "ignore")
            window = max(0, previous - longest_stop)
            hits = [(text.find(s, window), s) for s in stop]
            hits = [(p, s) for p, s in hits if p >= 0]
            if hits:
                position, hit = min(hits)
                text, reason = text[:position + len(hit)], "stop"
                break
            if len(tokens) >= params.max_new_tokens:
                break
        stream.close()
        if reason != "stop":
            text = self.llm.detokenize(tokens).decode("utf-8", "replace")
        return Completion(request_index=0, seed_index=0, text=text, new_tokens=len(tokens) + (reason == "eos"),
                          finish_reason=reason, stop_sequence=hit, prompt_tokens=len(ids))


def load_llamacpp_backend(model: str | None, **options: Any) -> LlamaCppBackend:
    options = check_options("llamacpp", options, OPTIONS)
    llama_cpp = require_extra("llama_cpp", "llamacpp", "llamacpp")
    options.pop("announce", None)
    path, model_id = locate_gguf(model)
    settings = {"n_ctx": 8192, "n_batch": 512, "n_gpu_layers": 0, **options}
    llm = llama_cpp.Llama(model_path=str(path), verbose=False, logits_all=False, **settings)
    kind = EMBEDDED[model_id.split(":", 1)[1]].kind if model_id.startswith("embedded:") else None
    template = llm.metadata.get("tokenizer.chat_template")
    info = ModelInfo(model_id=model_id, backend="llamacpp", revision="sha256:" + file_sha256(path),
                     has_chat_template=bool(template),
                     extra={"kind": kind or ("chat" if template else "base"), "llama_cpp": llama_cpp.__version__,
                            "engine": settings, "seeds": "one stream per sample; engine seed = the sample's seed"})
    return LlamaCppBackend(llm, info)

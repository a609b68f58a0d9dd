"""The transformers backend: a prefix-reusing sampler for any causal LM transformers can load.

Cost model (measured on CPU; benchmarks/backend_throughput.py and docs/BACKENDS.md): the prompt prefill dominates when n samples each
re-read a long prompt, as ``generate(num_return_sequences=n)`` does. Here a prompt is prefilled
once and its KV cache is copied to all n rows; and the text every prompt of a call shares (the
scenario and the frame's header) is prefilled once per call, each prompt only adding its own tail.
Decode batches are filled with rows of consecutive prompts (up to max_batch), so one sample per
query still decodes many rows at a time (shared_prefix.GroupedPrefixCache).
"""

from __future__ import annotations

import copy
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from ..errors import UserError
from ..records import FinishReason
from .base import Completion, ContinuationScore, ModelInfo, SampleRequest, SamplingParams
from .decode_linear import decode_linears
from .forced_choice import continuation_ids, token_encoder
from .shared_prefix import GroupedPrefixCache, SharedPrefixCache, decode_attention
from .token_sampling import choose_tokens, sample_stream
from .vocabulary import control_token_ids


def cache_argument(model: Any) -> str:
    """The keyword a model's forward takes its KV cache by: ``cache`` from transformers 5.24 on (where
    ``past_key_values`` warns until its removal in 5.40), ``past_key_values`` before and in custom code."""
    import inspect

    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    if not sequences:
        return 0
    shortest = min(len(s) for s in sequences)
    first = sequences[0]
    for position in range(shortest):
        token = first[position]
        if any(seq[position] != token for seq in sequences[1:]):
            return position
    return shortest


@dataclass
class _Row:
    """Decoding state of one sample."""

    request_index: int
    seed_index: int
    stream: np.random.Generator
    stop: Sequence[str] = ()
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    finish_reason: FinishReason | None = None
    stop_sequence: str | None = None


class TransformersBackend:
    """Sample continuations with a transformers causal LM, reusing KV caches of shared prefixes."""

    def __init__(self, model: Any, tokenizer: Any, info: ModelInfo, *, max_batch: int = 32,
                 shared_prefix_attention: bool = True, transposed_linears: bool = True):
        self.model = model.eval()
        self.device = next(model.parameters()).device
        # read the prompt's keys/values once per decode step for all rows (see shared_prefix.py)
        self.shared_prefix_attention = shared_prefix_attention
        # decode-step products as W @ x.T, the faster layout on CPU (see decode_linear.py)
        self.transposed_linears = transposed_linears and self.device.type == "cpu"
        self.tokenizer = tokenizer
        self.info = info
        self.max_batch = max_batch
        self.eos_ids = self._eos_ids()
        self.banned_ids = self._banned_ids()
        self._prefix: tuple[tuple[int, ...], Any] | None = None  # (token ids, 1-row KV cache)
        self._logit_log: dict[tuple[int, int, int], tuple[torch.Tensor, int]] | None = None  # self-check only
        self.cache_argument = cache_argument(model)
        # called with the number of tokens each decode step made, so progress moves inside a batch
        self.on_decode_step: Callable[[int], None] | None = None

    # -- protocol ------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return len(self._encode(text))

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            raise UserError(f"model {self.info.model_id} has no chat template (a base model?); "
                            "use a document frame such as chatlog, or a chat model")
        try:
            return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        except Exception:  # noqa: BLE001 - some templates reject a system role; fold it into the user turn
            merged = [{"role": "user", "content": messages[0]["content"] + "\n\n" + messages[1]["content"]}]
            if messages[0]["role"] != "system" or len(messages) != 2:
                raise
            return self.tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> Iterator[list[Completion]]:
        encoded = [self._encode(request.prompt) for request in requests]
        for index, ids in enumerate(encoded):
            if not ids:
                raise UserError(f"prompt {index} is empty after tokenisation")
        # Always leave each prompt's last token out of the shared prefix: it is fed at the first decode step.
        shared = common_prefix_length([ids[:-1] for ids in encoded])
        with torch.inference_mode():
            shared_cache = self._shared_prefix_cache(tuple(encoded[0][:shared])) if shared else None
            prompt_caches: dict[int, Any] = {}
            for rows in self._row_batches(requests):
                began = time.perf_counter()
                # a prompt's cache is built when its first row comes up and kept while rows of it remain
                prompt_caches = {i: prompt_caches[i] if i in prompt_caches else
                                 self._extend(shared_cache, encoded[i][shared:-1])
                                 for i in dict.fromkeys(row.request_index for row in rows)}
                self._decode_batch(rows, prompt_caches, encoded, params)
                seconds = (time.perf_counter() - began) / len(rows)
                yield [self._completion(row, len(encoded[row.request_index]), seconds) for row in rows]

    def continuation_logprobs(self, prompts: Sequence[str],
                              continuations: Sequence[str]) -> Iterator[tuple[int, list[ContinuationScore]]]:
        """ScoringBackend: as in sampling, the text all prompts share is prefilled once and each prompt's
        last token is fed together with the continuation, so its logits come out of the same forward pass."""
        encode = token_encoder(self.tokenizer)
        encoded = [encode(p, True) for p in prompts]
        shared = common_prefix_length([ids[:-1] for ids in encoded])
        with torch.inference_mode():
            shared_cache = self._shared_prefix_cache(tuple(encoded[0][:shared])) if shared else None
            for index, (prompt, ids) in enumerate(zip(prompts, encoded)):
                prompt_cache = self._extend(shared_cache, ids[shared:-1])
                scores = []
                for continuation in continuations:
                    tail = continuation_ids(encode, ids, prompt, continuation)
                    inputs = torch.tensor([[ids[-1]] + tail[:-1]], device=self.device)
                    cache = copy.deepcopy(prompt_cache)
                    logits = self.model(input_ids=inputs, **{self.cache_argument: cache}, use_cache=True).logits[0]
                    logprobs = torch.log_softmax(logits.double(), dim=-1)
                    picked = logprobs.gather(-1, torch.tensor(tail, device=logprobs.device).unsqueeze(-1))
                    scores.append(ContinuationScore(float(picked.sum()), len(tail)))
                yield index, scores

    def _row_batches(self, requests: Sequence[SampleRequest]) -> Iterator[list[_Row]]:
        """Up to max_batch rows per decode batch, filled prompt after prompt (a prompt may span two
        batches). Prompts share a batch only under shared-prefix attention, which keeps each prompt's
        keys and values once; with plain caches every row would carry its prompt's copy."""
        batch: list[_Row] = []
        for index, request in enumerate(requests):
            if batch and not self.shared_prefix_attention:
                yield batch
                batch = []
            for seed_index, seed in enumerate(request.seeds):
                batch.append(_Row(index, seed_index, sample_stream(seed, request.rng_key), tuple(request.stop)))
                if len(batch) == self.max_batch:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _decode_batch(self, rows: list[_Row], prompt_caches: dict[int, Any], encoded: Sequence[Sequence[int]],
                      params: SamplingParams) -> None:
        prompts = list(dict.fromkeys(row.request_index for row in rows))
        lengths = [len(encoded[i]) - 1 for i in prompts]
        if len(prompts) == 1 or min(lengths) == 0:  # one prompt, or a one-token prompt with no cache to share
            for prompt, length in zip(prompts, lengths):
                own = [row for row in rows if row.request_index == prompt]
                self._decode(prompt_caches[prompt], length, encoded[prompt][-1], own, params)
            return
        position = {prompt: code for code, prompt in enumerate(prompts)}
        cache = GroupedPrefixCache([prompt_caches[i] for i in prompts], lengths,
                                   [position[row.request_index] for row in rows], params.max_new_tokens)
        first_tokens = [encoded[row.request_index][-1] for row in rows]
        starts = torch.tensor([len(encoded[row.request_index]) - 1 for row in rows], device=self.device)
        with ExitStack() as modes:
            modes.enter_context(decode_attention(self.model))
            if self.transposed_linears:
                modes.enter_context(decode_linears(self.model))
            self._decode_loop(cache, first_tokens, rows, params, starts)

    # -- prefill ---------------------------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        # Frames render complete documents, BOS included by the tokenizer where the model expects one.
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def _forward(self, ids: Sequence[int], cache: Any) -> Any:
        from transformers import DynamicCache

        cache = cache if cache is not None else DynamicCache(config=self.model.config)
        if ids:
            input_ids = torch.tensor([list(ids)], device=self.device)
            self.model(input_ids=input_ids, **{self.cache_argument: cache}, use_cache=True, logits_to_keep=1)
        return cache

    def _shared_prefix_cache(self, prefix: tuple[int, ...]) -> Any:
        """KV cache of the text all prompts share, kept across calls while the prefix stays the same."""
        if self._prefix is not None:
            known, cache = self._prefix
            if known == prefix:
                return cache
        cache = self._forward(prefix, None)
        self._prefix = (prefix, cache)
        return cache

    def _extend(self, base_cache: Any, ids: Sequence[int]) -> Any:
        cache = copy.deepcopy(base_cache) if base_cache is not None else None
        return self._forward(ids, cache)

    # -- decode ----------------------------------------------------------------------------------
    def _decode_cache(self, prompt_cache: Any, prompt_length: int, rows: int, params: SamplingParams):
        """The cache the decode loop writes to, and the attention mode to run it under."""
        if self.shared_prefix_attention and rows > 1 and prompt_length > 0:
            return SharedPrefixCache(prompt_cache, prompt_length, rows, params.max_new_tokens), decode_attention(self.model)
        cache = copy.deepcopy(prompt_cache)
        if rows > 1 and prompt_length > 0:
            cache.batch_repeat_interleave(rows)
        return cache, nullcontext()

    def _decode(self, prompt_cache: Any, prompt_length: int, last_token: int, rows: list[_Row],
                params: SamplingParams) -> None:
        cache, attention_mode = self._decode_cache(prompt_cache, prompt_length, len(rows), params)
        with ExitStack() as modes:
            modes.enter_context(attention_mode)
            if self.transposed_linears:
                modes.enter_context(decode_linears(self.model))
            self._decode_loop(cache, [last_token] * len(rows), rows, params)

    def _decode_loop(self, cache: Any, first_tokens: list[int], rows: list[_Row], params: SamplingParams,
                     starts: torch.Tensor | None = None) -> None:
        """Decode every row to its end. ``starts``: each row's first decode position, when the rows
        continue prompts of different lengths (else the cache's length gives the positions)."""
        active = list(rows)
        input_ids = torch.tensor([[token] for token in first_tokens], dtype=torch.long, device=self.device)
        for step in range(params.max_new_tokens):
            positions = None if starts is None else (starts + step).unsqueeze(-1)
            logits = self.model(input_ids=input_ids, **{self.cache_argument: cache}, use_cache=True,
                                position_ids=positions).logits[:, -1, :]
            if self.banned_ids is not None:
                logits.index_fill_(-1, self.banned_ids, float("-inf"))
            chosen = choose_tokens(logits, params, [row.stream for row in active]).tolist()
            if self.on_decode_step is not None:
                self.on_decode_step(len(active))
            if self._logit_log is not None:
                for row, row_logits, token in zip(active, logits, chosen):
                    self._logit_log[(row.request_index, row.seed_index, step)] = (row_logits.float().clone(), token)
            keep = []
            for position, (row, token) in enumerate(zip(active, chosen)):
                if self._advance(row, token, params.max_new_tokens):
                    keep.append(position)
            if not keep:
                break
            if len(keep) < len(active):
                # Drop finished samples from the batch instead of decoding padding for them.
                kept = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(kept)
                active = [active[p] for p in keep]
                starts = None if starts is None else starts[kept]
            input_ids = torch.tensor([[chosen[p]] for p in keep], device=self.device)

    def _advance(self, row: _Row, token: int, limit: int) -> bool:
        """Append ``token`` to ``row``; return False once the row is finished."""
        if token in self.eos_ids:
            row.finish_reason = "eos"
            return False
        row.tokens.append(token)
        previous_length = len(row.text)
        row.text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
        if row.stop:
            # only the new text (plus an overlap as long as the longest stop) can hold a new match
            window_start = max(0, previous_length - max(len(s) for s in row.stop))
            hits = [(row.text.find(s, window_start), s) for s in row.stop]
            hits = [(position, s) for position, s in hits if position >= 0]
            if hits:
                row.finish_reason, row.stop_sequence = "stop", min(hits)[1]
                return False
        if len(row.tokens) >= limit:
            row.finish_reason = "length"
            return False
        return True

    def _completion(self, row: _Row, prompt_tokens: int, seconds: float) -> Completion:
        return Completion(request_index=row.request_index, seed_index=row.seed_index, text=row.text,
                          new_tokens=len(row.tokens) + (row.finish_reason == "eos"),
                          finish_reason=row.finish_reason or "length", stop_sequence=row.stop_sequence,
                          prompt_tokens=prompt_tokens, seconds=seconds)

    # -- self-check --------------------------------------------------------------------------------
    def decode_path_problems(self, steps: int = 2) -> tuple[str | None, str | None]:
        """(why the fast decode path fails, why the plain one fails), None where a path works.

        The fast path leans on transformers internals (a ``Cache`` subclass whose ``update`` the
        attention calls, attention chosen through ``config._attn_implementation``). A transformers
        release that changes either would crash mid-forward or, worse, decode wrongly. So the same
        probe prompts are greedy-decoded on both paths before any real sample, and the fast path
        counts as working only if it runs and its logits match the plain DynamicCache decode.
        """
        fast_wanted = self.shared_prefix_attention, self.transposed_linears
        try:
            self.shared_prefix_attention = self.transposed_linears = False
            try:
                plain = self._probe_logits(steps)
            except Exception as exc:  # noqa: BLE001 - any failure means the path cannot be used
                return _first_line(exc), _first_line(exc)
        finally:
            self.shared_prefix_attention, self.transposed_linears = fast_wanted
        if not any(fast_wanted):
            return None, None
        try:
            fast = self._probe_logits(steps)
        except Exception as exc:  # noqa: BLE001
            return _first_line(exc), None
        return _logit_mismatch(fast, plain, self.model.dtype), None

    def _probe_logits(self, steps: int) -> list[dict[tuple[int, int, int], tuple[torch.Tensor, int]]]:
        """Per call, each row's logits and chosen token at every greedy step: two rows of one prompt
        (shared-prefix cache), then rows of two prompts together (grouped cache)."""
        params = SamplingParams(temperature=0.0, max_new_tokens=steps)
        calls = ([SampleRequest(_PROBE_PROMPTS[0], (0, 1))],
                 [SampleRequest(_PROBE_PROMPTS[0], (0,)), SampleRequest(_PROBE_PROMPTS[1], (0, 1))])
        logs = []
        for requests in calls:
            self._logit_log = {}
            try:
                for _ in self.sample(requests, params):
                    pass
                logs.append(self._logit_log)
            finally:
                self._logit_log = None
        return logs

    # -- vocabulary --------------------------------------------------------------------------------
    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (self.model.generation_config.eos_token_id, self.model.config.eos_token_id,
                       self.tokenizer.eos_token_id):
            if source is None:
                continue
            ids.update(source if isinstance(source, (list, tuple)) else [source])
        return ids

    def _banned_ids(self) -> torch.Tensor | None:
        """Special and control tokens (e.g. Gemma's <start_of_image>) never belong in sampled text."""
        special = control_token_ids(self.tokenizer)
        vocab_size = self.model.get_output_embeddings().weight.shape[0]
        banned = sorted(i for i in special - self.eos_ids if 0 <= i < vocab_size)
        return torch.tensor(banned, dtype=torch.long, device=self.device) if banned else None


# Two prompts sharing a prefix, of different lengths, as frames render them (text, then a speaker mark).
_PROBE_PROMPTS = ("Conversation export.\n\nUser: Please say hello.\n\nAssistant:",
                  "Conversation export.\n\nUser: Which city is the capital of France, and why?\n\nAssistant:")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _logit_mismatch(fast: list[dict], plain: list[dict], dtype: torch.dtype) -> str | None:
    """Why ``fast`` and ``plain`` probe logits disagree, or None. A row is compared step by step until
    its greedy tokens part (after a legitimate near-tie flip the two texts simply differ)."""
    # reordered float arithmetic differs in the last bits; 16-bit types round far more coarsely
    relative = 1e-3 if dtype == torch.float32 else 5e-2
    for fast_call, plain_call in zip(fast, plain):
        if not fast_call or not plain_call:
            return "the probe decoded nothing"
        parted: set[tuple[int, int]] = set()
        for key in sorted(fast_call.keys() & plain_call.keys(), key=lambda k: (k[2], k[0], k[1])):
            row = key[:2]
            if row in parted:
                continue
            (fast_logits, fast_token), (plain_logits, plain_token) = fast_call[key], plain_call[key]
            finite = torch.isfinite(plain_logits)
            if not torch.equal(finite, torch.isfinite(fast_logits)):
                return f"its banned-token mask differs at probe step {key[2]}"
            difference = (fast_logits[finite] - plain_logits[finite]).abs().max().item()
            scale = 1.0 + plain_logits[finite].abs().max().item()
            if not difference <= relative * scale:  # written this way round so NaN fails too
                return f"its logits differ from plain decoding by {difference:.3g} at probe step {key[2]}"
            if fast_token != plain_token:
                parted.add(row)
    return None

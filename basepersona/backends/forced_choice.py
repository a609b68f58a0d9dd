"""Forced-choice scoring: log P(continuation | prompt) from token logprobs, without sampling.

For each prompt and each continuation (by default the accept and the reject tag) the score is the
sum of the continuation tokens' logprobs given the prompt, under the model's raw distribution
(temperature 1, no truncation). Two continuations give a normalised two-way probability
``p = exp(a) / (exp(a) + exp(b))``. Backends with logprobs implement
``continuation_logprobs(prompts, continuations)``, yielding ``(prompt_index, [ContinuationScore])``;
the transformers backend is scored here, reusing its prefix KV caches.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from ..errors import UserError


@dataclass(frozen=True)
class ContinuationScore:
    logprob: float  # sum of the continuation's token logprobs
    tokens: int  # how many tokens the continuation took
    boundary_merged: bool = False  # a token straddled prompt and continuation (server scoring only)


def two_way_probability(logprob_a: float, logprob_b: float) -> float:
    """exp(a) / (exp(a) + exp(b)), computed without overflow."""
    return 1.0 / (1.0 + math.exp(logprob_b - logprob_a)) if logprob_b - logprob_a < 700 else 0.0


def continuation_ids(encode: Any, prompt_ids: Sequence[int], prompt: str, continuation: str) -> list[int]:
    """Token ids of ``continuation`` after ``prompt``.

    The joined text is tokenised when the prompt's tokens survive as its prefix (the natural
    tokenisation); when the tokeniser merges across the boundary, the continuation is tokenised on
    its own, so the prompt's tokens stay the ones the model was conditioned on.
    ``encode(text, special)`` returns token ids, adding BOS etc. when ``special`` is true.
    """
    joined = encode(prompt + continuation, True)
    if joined[:len(prompt_ids)] == list(prompt_ids) and len(joined) > len(prompt_ids):
        return list(joined[len(prompt_ids):])
    alone = encode(continuation, False)
    if not alone:
        raise UserError(f"continuation {continuation!r} is empty after tokenisation")
    return list(alone)


def continuation_logprobs(backend: Any, prompts: Sequence[str],
                          continuations: Sequence[str]) -> Iterator[tuple[int, list[ContinuationScore]]]:
    """Score every continuation after every prompt with whatever logprobs ``backend`` exposes."""
    if len(continuations) < 2 or len(set(continuations)) != len(continuations):
        raise UserError("forced-choice scoring needs at least two different continuations")
    from .transformers_backend import TransformersBackend

    if isinstance(backend, TransformersBackend):
        return _transformers_scores(backend, prompts, continuations)
    if hasattr(backend, "continuation_logprobs"):
        return backend.continuation_logprobs(prompts, continuations)
    raise UserError(f"the {backend.info.backend} backend exposes no token logprobs; forced-choice scoring "
                    "works with the transformers, vllm, llamacpp and openai backends")


def _transformers_scores(backend: Any, prompts: Sequence[str],
                         continuations: Sequence[str]) -> Iterator[tuple[int, list[ContinuationScore]]]:
    import torch

    from .transformers_backend import common_prefix_length

    tokenizer = backend.tokenizer

    def encode(text: str, special: bool) -> list[int]:
        return list(tokenizer(text, add_special_tokens=special)["input_ids"])

    encoded = [encode(p, True) for p in prompts]
    # as in sampling: the text all prompts share is prefilled once, each prompt's last token is fed
    # together with the continuation so its logits come out of the same forward pass
    shared = common_prefix_length([ids[:-1] for ids in encoded])
    with torch.inference_mode():
        shared_cache = backend._shared_prefix_cache(tuple(encoded[0][:shared])) if shared else None
        for index, (prompt, ids) in enumerate(zip(prompts, encoded)):
            prompt_cache = backend._extend(shared_cache, ids[shared:-1])
            scores = []
            for continuation in continuations:
                tail = continuation_ids(encode, ids, prompt, continuation)
                inputs = torch.tensor([[ids[-1]] + tail[:-1]], device=backend.device)
                cache = copy.deepcopy(prompt_cache)
                logits = backend.model(input_ids=inputs, **{backend.cache_argument: cache}, use_cache=True).logits[0]
                logprobs = torch.log_softmax(logits.double(), dim=-1)
                picked = logprobs.gather(-1, torch.tensor(tail, device=logprobs.device).unsqueeze(-1))
                scores.append(ContinuationScore(float(picked.sum()), len(tail)))
            yield index, scores

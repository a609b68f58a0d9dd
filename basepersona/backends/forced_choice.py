"""Forced-choice scoring: log P(continuation | prompt) from token logprobs, without sampling.

For each prompt and each continuation (by default the accept and the reject tag) the score is the
sum of the continuation tokens' logprobs given the prompt, under the model's raw distribution
(temperature 1, no truncation). Two continuations give a normalised two-way probability
``p = exp(a) / (exp(a) + exp(b))``. Backends with logprobs implement the ``ScoringBackend`` protocol
(backends/base.py).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Sequence

from ..errors import UserError
from .base import ContinuationScore, ScoringBackend

__all__ = ["ContinuationScore", "continuation_ids", "continuation_logprobs", "token_encoder", "two_way_probability"]


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


def token_encoder(tokenizer: Any) -> Callable[[str, bool], list[int]]:
    """``encode(text, special)`` for a Hugging Face tokenizer, as ``continuation_ids`` takes it."""

    def encode(text: str, special: bool) -> list[int]:
        return list(tokenizer(text, add_special_tokens=special)["input_ids"])

    return encode


def continuation_logprobs(backend: Any, prompts: Sequence[str],
                          continuations: Sequence[str]) -> Iterator[tuple[int, list[ContinuationScore]]]:
    """Score every continuation after every prompt with the backend's token logprobs."""
    if len(continuations) < 2 or len(set(continuations)) != len(continuations):
        raise UserError("forced-choice scoring needs at least two different continuations")
    if not isinstance(backend, ScoringBackend):
        raise UserError(f"the {backend.info.backend} backend exposes no token logprobs; forced-choice scoring "
                        "works with the transformers, vllm, llamacpp and openai backends")
    return backend.continuation_logprobs(prompts, continuations)

"""Vocabulary facts every local backend needs."""

from __future__ import annotations

from typing import Any


def control_token_ids(tokenizer: Any) -> set[int]:
    """Special and control tokens of a Hugging Face tokenizer (e.g. Gemma's <start_of_image>): they never
    belong in sampled text, so backends keep them from being sampled (end-of-text aside)."""
    special = {int(i) for i in getattr(tokenizer, "all_special_ids", [])}
    for token_id, token in getattr(tokenizer, "added_tokens_decoder", {}).items():
        if getattr(token, "special", False):
            special.add(int(token_id))
    return special

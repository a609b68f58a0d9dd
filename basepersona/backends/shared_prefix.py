"""Decode attention that reads a shared prompt's keys and values once per step, not once per sample.

When n samples continue the same prompt, a plain KV cache holds n copies of the prompt's keys and
values and every decode step reads all of them: for a 1.5k-token prompt and 32 samples that is
most of the memory traffic of a step on a CPU. Here the cache keeps the prompt's keys and values
once (batch 1) and only the generated tokens per sample; attention scores against the prompt are
one matrix product for all samples and heads together, then merged with the per-sample part
under one softmax. The arithmetic is the same attention, reordered.

Used only for single-token decode steps; the prompt itself is prefilled with the model's own
attention and masks. Sliding-window layers see the same window as in the model: the last
``sliding_window`` positions, prompt and generated tokens alike.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, NamedTuple, Sequence

import torch
from transformers import AttentionInterface
from transformers.cache_utils import Cache

ATTENTION_NAME = "basepersona_shared_prefix"


class SplitKV(NamedTuple):
    """What the cache hands the attention function: the shared prompt part and the per-sample part."""

    prefix: torch.Tensor  # [1, kv_heads, P_layer, head_dim]
    prefix_start: int  # absolute position of prefix[:, :, 0]
    suffix: torch.Tensor  # [rows, kv_heads, S, head_dim], positions prompt_length .. prompt_length+S-1
    prompt_length: int


class SharedPrefixCache(Cache):
    """A decode cache over a 1-row prompt cache: prompt keys/values shared, generated ones per row."""

    def __init__(self, prompt_cache: Any, prompt_length: int, rows: int, max_new_tokens: int):
        # Deliberately skip Cache.__init__: this cache manages its own storage, not Cache.layers.
        self.prompt_length = prompt_length
        self.rows = rows
        self.capacity = max_new_tokens + 1
        self.prefix = [(layer.keys, layer.values) for layer in prompt_cache.layers]
        self.keys: list[torch.Tensor | None] = [None] * len(self.prefix)
        self.values: list[torch.Tensor | None] = [None] * len(self.prefix)
        self.length = 0  # generated positions stored per row
        self.layers = []

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None, **kwargs):
        # transformers <= 5.23 passes ``cache_kwargs``, 5.24 ``kwargs=``; neither carries anything we need
        keys, values = self._store(key_states, value_states, layer_idx)
        return _split(self.prefix[layer_idx], self.prompt_length, keys, values)

    def _store(self, key_states, value_states, layer_idx) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's key/value of every row; the generated keys/values so far."""
        if self.keys[layer_idx] is None:
            shape = (self.rows, key_states.shape[1], self.capacity, key_states.shape[-1])
            self.keys[layer_idx] = key_states.new_empty(shape)
            self.values[layer_idx] = value_states.new_empty(shape)
        position = self.length
        self.keys[layer_idx][:, :, position] = key_states[:, :, 0]
        self.values[layer_idx][:, :, position] = value_states[:, :, 0]
        if layer_idx == len(self.prefix) - 1:
            self.length += 1
        stored = position + 1
        return self.keys[layer_idx][:, :, :stored], self.values[layer_idx][:, :, :stored]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.prompt_length + self.length

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.rows = len(indices)
        for store in (self.keys, self.values):
            for layer, tensor in enumerate(store):
                if tensor is not None:
                    store[layer] = tensor.index_select(0, indices)

    @property
    def is_compileable(self) -> bool:
        return False


def _split(prefix: tuple[torch.Tensor, torch.Tensor], prompt_length: int, keys: torch.Tensor,
           values: torch.Tensor) -> tuple[SplitKV, SplitKV]:
    prefix_keys, prefix_values = prefix
    start = prompt_length - prefix_keys.shape[2]  # sliding-window layers keep only the prompt's tail
    return SplitKV(prefix_keys, start, keys, prompt_length), SplitKV(prefix_values, start, values, prompt_length)


class GroupedSplitKV(NamedTuple):
    """Several prompts in one decode batch: one SplitKV per prompt, over its rows (consecutive)."""

    parts: list[SplitKV]


class GroupedPrefixCache(SharedPrefixCache):
    """Rows of several prompts decoded together, each prompt's keys/values kept once for its rows.

    Rows are ordered by prompt. Generated positions stay aligned across rows (every row has made
    the same number of steps), so only the prompt part differs between groups of rows; the model
    gets each row's absolute position through position_ids."""

    def __init__(self, prompt_caches: Sequence[Any], prompt_lengths: Sequence[int], row_prompts: Sequence[int],
                 max_new_tokens: int):
        super().__init__(prompt_caches[0], prompt_lengths[0], len(row_prompts), max_new_tokens)
        self.prefixes = [[(layer.keys, layer.values) for layer in cache.layers] for cache in prompt_caches]
        self.prompt_lengths = list(prompt_lengths)
        self.row_prompts = list(row_prompts)

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None, **kwargs):
        keys, values = self._store(key_states, value_states, layer_idx)
        key_parts, value_parts = [], []
        for prompt, rows in self._runs():
            split_keys, split_values = _split(self.prefixes[prompt][layer_idx], self.prompt_lengths[prompt],
                                              keys[rows], values[rows])
            key_parts.append(split_keys)
            value_parts.append(split_values)
        return GroupedSplitKV(key_parts), GroupedSplitKV(value_parts)

    def _runs(self) -> Iterator[tuple[int, slice]]:
        start = 0
        for end in range(1, len(self.row_prompts) + 1):
            if end == len(self.row_prompts) or self.row_prompts[end] != self.row_prompts[start]:
                yield self.row_prompts[start], slice(start, end)
                start = end

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        super().batch_select_indices(indices)
        self.row_prompts = [self.row_prompts[i] for i in indices.tolist()]


def _visible(split: SplitKV, query_position: int, window: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Prefix and suffix slices a query at ``query_position`` may attend to."""
    first = 0 if window is None else query_position - window + 1
    prefix_from = max(0, first - split.prefix_start)
    suffix_from = max(0, first - split.prompt_length)
    return split.prefix[0, :, prefix_from:], split.suffix[:, :, suffix_from:]


def shared_prefix_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None,
                            sliding_window=None, softcap=None, **kwargs):
    """Attention for one new token per row against a (Grouped)SplitKV cache. Returns [rows, 1, heads, dim]."""
    options = dict(scaling=scaling, sliding_window=sliding_window, softcap=softcap)
    if not isinstance(key, GroupedSplitKV):
        return _prompt_attention(query, key, value, **options), None
    outputs, start = [], 0
    for part_keys, part_values in zip(key.parts, value.parts):
        rows = part_keys.suffix.shape[0]
        outputs.append(_prompt_attention(query[start:start + rows], part_keys, part_values, **options))
        start += rows
    return torch.cat(outputs), None


def _prompt_attention(query: torch.Tensor, key: SplitKV, value: SplitKV, *, scaling, sliding_window,
                      softcap) -> torch.Tensor:
    """One prompt's rows: scores against its shared keys in one product, merged with each row's own."""
    rows, heads, query_length, dim = query.shape
    assert query_length == 1, "shared-prefix attention is for single-token decode steps"
    query_position = key.prompt_length + key.suffix.shape[2] - 1
    prefix_keys, suffix_keys = _visible(key, query_position, sliding_window)
    prefix_values, suffix_values = _visible(value, query_position, sliding_window)
    kv_heads = prefix_keys.shape[0]
    groups = heads // kv_heads
    scale = scaling if scaling is not None else dim ** -0.5
    grouped = query.view(rows, kv_heads, groups, dim)
    # all rows and query heads of a kv head against the shared prompt keys in one product
    stacked = grouped.permute(1, 0, 2, 3).reshape(kv_heads, rows * groups, dim)
    prefix_scores = torch.matmul(stacked, prefix_keys.transpose(-1, -2))
    prefix_scores = prefix_scores.view(kv_heads, rows, groups, -1).permute(1, 0, 2, 3)
    suffix_scores = torch.matmul(grouped, suffix_keys.transpose(-1, -2))
    scores = torch.cat([prefix_scores, suffix_scores], dim=-1) * scale
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    probs = torch.softmax(scores.float(), dim=-1).to(query.dtype)
    split = prefix_keys.shape[1]
    prefix_probs = probs[..., :split].permute(1, 0, 2, 3).reshape(kv_heads, rows * groups, split)
    output = torch.matmul(prefix_probs, prefix_values).view(kv_heads, rows, groups, dim).permute(1, 0, 2, 3)
    output = output + torch.matmul(probs[..., split:], suffix_values)
    return output.reshape(rows, heads, 1, dim).transpose(1, 2)


AttentionInterface.register(ATTENTION_NAME, shared_prefix_attention)


@contextmanager
def decode_attention(model: Any) -> Iterator[None]:
    """Switch ``model`` to shared-prefix attention for the duration of a decode loop."""
    config = model.config
    previous = config._attn_implementation
    config._attn_implementation = ATTENTION_NAME
    try:
        yield
    finally:
        config._attn_implementation = previous

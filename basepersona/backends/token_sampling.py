"""Exact, batch-independent token sampling.

Each sample owns a random stream seeded by (seed, rng_key) and draws one uniform number per step.
The token is the inverse-CDF draw from its (temperature/top-k/top-p adjusted) distribution, so a
sample's tokens depend only on its own stream and logits: the same sample comes out the same
whether it is drawn alone or in a batch of 32, and no full-vocabulary random tensor is needed
(torch.multinomial over 262k entries per row was a measured hot spot).
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import torch

from .base import SamplingParams


def sample_stream(seed: int, rng_key: str) -> np.random.Generator:
    """The random stream of one sample: a function of its seed and key alone."""
    key = int.from_bytes(hashlib.sha256(rng_key.encode()).digest()[:8], "little")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed & (2**63 - 1), key])))


def choose_tokens(logits: torch.Tensor, params: SamplingParams, streams: Sequence[np.random.Generator]) -> torch.Tensor:
    """Pick one token per row of ``logits`` ([rows, vocab]); banned tokens must already be -inf."""
    if params.temperature == 0:
        return logits.argmax(dim=-1)
    uniforms = torch.tensor([stream.random() for stream in streams], dtype=torch.float64)
    scaled = logits.float() / params.temperature
    candidate_ids: torch.Tensor | None = None
    if params.top_k > 0:
        scaled, candidate_ids = torch.topk(scaled, min(params.top_k, scaled.shape[-1]), dim=-1)
    elif params.top_p < 1.0:
        scaled, candidate_ids = torch.sort(scaled, dim=-1, descending=True)
    # float64 keeps the cumulative sum exact enough over a 262k vocabulary
    probs = torch.softmax(scaled.double(), dim=-1)
    if params.top_p < 1.0:
        # candidates are sorted by probability: keep the smallest prefix whose mass reaches top_p
        mass_before = probs.cumsum(dim=-1) - probs
        probs = probs.masked_fill(mass_before >= params.top_p, 0.0)
    cdf = probs.cumsum(dim=-1)
    targets = (uniforms * cdf[:, -1]).unsqueeze(-1)
    choice = torch.searchsorted(cdf, targets, right=True).clamp_(max=cdf.shape[-1] - 1)
    if candidate_ids is not None:
        choice = candidate_ids.gather(-1, choice)
    return choice.squeeze(-1)

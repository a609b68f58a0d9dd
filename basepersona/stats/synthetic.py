"""Synthetic labelled runs with known rates and intra-query correlation (for tests and benchmarks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..judge.base import Label
from ..store import LABELS_DIR, MANIFEST, SAMPLES, sample_fingerprint, sample_id


def query_rates(rng: np.random.Generator, n_queries: int, mean: float, icc: float) -> np.ndarray:
    """Per-query success probabilities with the given mean whose binary draws have intra-query correlation icc."""
    if icc <= 0 or mean in (0.0, 1.0):
        return np.full(n_queries, mean)
    concentration = (1 - icc) / icc  # Beta(a, b) with a + b = (1 - icc)/icc gives ICC = icc
    return rng.beta(mean * concentration, (1 - mean) * concentration, n_queries)


def write_run(path: Path, *, rates: Mapping[str, Sequence[float] | float], n: int, seed: int = 0,
              model: str = "synthetic-base", model_kind: str = "base", frame: str = "chatlog",
              variant: dict | None = None, query_ids: Sequence[str] | None = None, judge: str = "rules",
              af_share: float = 0.3, persona_rate: float = 1.0, partial_share: float = 0.1,
              labelled: bool = True) -> Path:
    """Write manifest.json, samples.jsonl and labels/<judge>.jsonl; rates[condition] is per query or one number.

    A sample complies with its query's rate; compliant samples show AF with probability af_share;
    refusals considered AF with that probability too; a share of non-compliant samples is partial.
    """
    rng = np.random.default_rng(seed)
    first = next(iter(rates.values()))
    n_queries = len(query_ids) if query_ids is not None else (len(first) if isinstance(first, Sequence) else 1)
    query_ids = list(query_ids) if query_ids is not None else [f"q{i:03d}" for i in range(n_queries)]
    path.mkdir(parents=True, exist_ok=True)
    manifest = {"format": 1, "model_kind": model_kind, "settings": {
        "model": model, "frame": frame, "variant": variant or {}, "n": n, "seed": seed,
        "conditions": {c: {} for c in rates}, "queries": {"source": "synthetic", "ids": query_ids}}}
    (path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    samples, labels = [], []
    for condition, rate in rates.items():
        per_query = np.broadcast_to(np.asarray(rate, dtype=float), (n_queries,))
        draws = rng.random((n_queries, n)) < per_query[:, None]
        extra = rng.random((n_queries, n, 3))
        for q, query_id in enumerate(query_ids):
            for index in range(n):
                sid = sample_id(condition, query_id, index)
                samples.append({"id": sid, "condition": condition, "query_id": query_id, "sample_index": index,
                                "model": model, "frame": frame, "turn": ""})
                persona = bool(extra[q, index, 2] < persona_rate)
                complied = bool(draws[q, index])
                if not persona:
                    compliance, af, considered = None, None, None
                else:
                    compliance = "complied" if complied else ("partial" if extra[q, index, 1] < partial_share
                                                              else "refused")
                    considered = bool(extra[q, index, 0] < af_share)
                    af = considered and compliance != "refused"
                # the judge stage's own record layout (Label.to_record + its stamps), so readers see real files
                labels.append({**Label(sid, judge, persona, compliance, af=af, considered_af=considered).to_record(),
                               "sample_hash": sample_fingerprint(samples[-1])})
    with (path / SAMPLES).open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(s) + "\n" for s in samples)
    if labelled:
        (path / LABELS_DIR).mkdir(exist_ok=True)
        with (path / LABELS_DIR / f"{judge}.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(label) + "\n" for label in labels)
    return path

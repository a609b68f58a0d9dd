"""Statistics of a frame screen: how often each frame's turns stay in persona, end cleanly and use the
accept/reject tags, with intervals clustered by query (samples of one query are not independent)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..frames import Frame
from ..judge.base import Judge
from ..scenario_file import ACCEPT_TAG, REJECT_TAG
from .intervals import Proportion, cluster_robust_se_of_ratio, proportion


def clustered_rate(flags: Sequence[bool], query_ids: Sequence[str]) -> Proportion:
    """A rate with a 95% interval clustered by query (samples of one query are not independent)."""
    index = {q: i for i, q in enumerate(dict.fromkeys(query_ids))}
    successes, counts = np.zeros(len(index)), np.zeros(len(index))
    for flag, query_id in zip(flags, query_ids):
        counts[index[query_id]] += 1
        successes[index[query_id]] += bool(flag)
    return proportion(successes, counts, method="clustered" if counts.max(initial=0) > 1 else "wilson")


def clustered_mean(values: Sequence[float], query_ids: Sequence[str]) -> tuple[float, float, float]:
    """Mean with a 95% interval from the query-clustered SE (t with clusters - 1 degrees of freedom)."""
    from scipy.stats import t

    index = {q: i for i, q in enumerate(dict.fromkeys(query_ids))}
    sums, counts = np.zeros(len(index)), np.zeros(len(index))
    for value, query_id in zip(values, query_ids):
        counts[index[query_id]] += 1
        sums[index[query_id]] += value
    if not values:
        return math.nan, math.nan, math.nan
    mean = float(sums.sum() / counts.sum())
    se = cluster_robust_se_of_ratio(sums, counts)  # NaN with a single query: no interval
    half = float(t.ppf(0.975, len(index) - 1)) * se if len(index) > 1 else math.nan
    return mean, mean - half, mean + half


@dataclass
class FrameScreen:
    frame: str
    prefill: str
    samples: int
    persona: Proportion
    clean_end: Proportion
    tag_use: Proportion
    accept: Proportion
    mean_tokens: tuple[float, float, float]
    persona_by_condition: dict[str, Proportion]


def screen_samples(frame: Frame, samples: list[dict[str, Any]], judge: Judge, prefill: str = "") -> FrameScreen:
    """Per-frame screening numbers from sample records (with query texts) and a judge's persona labels."""
    labels = judge.judge(samples)
    persona = [bool(label.persona) for label in labels]
    queries = [s["query_id"] for s in samples]
    by_condition: dict[str, tuple[list[bool], list[str]]] = {}
    for sample, flag in zip(samples, persona):
        flags, ids = by_condition.setdefault(sample["condition"], ([], []))
        flags.append(flag)
        ids.append(sample["query_id"])
    return FrameScreen(
        frame=frame.name, prefill=prefill, samples=len(samples), persona=clustered_rate(persona, queries),
        clean_end=clustered_rate([s.get("stop_sequence") in frame.turn_end for s in samples], queries),
        tag_use=clustered_rate([ACCEPT_TAG in s["turn"] or REJECT_TAG in s["turn"] for s in samples], queries),
        accept=clustered_rate([ACCEPT_TAG in s["turn"] for s in samples], queries),
        mean_tokens=clustered_mean([float(s["new_tokens"]) for s in samples], queries),
        persona_by_condition={c: clustered_rate(flags, ids) for c, (flags, ids) in by_condition.items()},
    )

"""A compact copy of a run's table next to its labels, so repeated reports skip re-reading the JSONL.

A fully judged run of 10^6 samples holds about 1 GB of label JSON (criteria and evidence quotes);
scanning that costs seconds on any machine, while the statistics need 10^6 small integers. After the
first read the table is saved as labels/.<set>.table.npz (about 18 bytes a sample) together with the
size and modification time of every file it was built from; a later read uses it only while all of
them are unchanged, so appending labels or samples rebuilds it. A folder that cannot be written is
not an error: the table is simply built from the JSONL every time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..store import MANIFEST, SAMPLES, Run

VERSION = 1


def cache_path(run: Run, label_set: str) -> Path:
    return run.labels_path(label_set).with_name(f".{label_set}.table.npz")


def _stamp(run: Run, label_set: str) -> str:
    stamps: dict[str, list[int] | None] = {}
    for path in (run.labels_path(label_set), run.path / SAMPLES, run.path / MANIFEST):
        try:
            info = path.stat()
            stamps[path.name] = [info.st_size, info.st_mtime_ns]
        except OSError:
            stamps[path.name] = None
    return json.dumps({"version": VERSION, "files": stamps}, sort_keys=True)


def load_cached(run: Run, label_set: str) -> dict[str, Any] | None:
    """The saved table arrays when every source file is unchanged, else None."""
    path = cache_path(run, label_set)
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["stamp"]) != _stamp(run, label_set):
                return None
            outcomes = data["outcomes"].astype(float)
            outcomes[data["outcomes"] < 0] = np.nan
            return {"conditions": json.loads(str(data["conditions"])), "queries": json.loads(str(data["queries"])),
                    "condition": data["condition"].astype(np.int64), "query": data["query"].astype(np.int64),
                    "sample_index": data["sample_index"].astype(np.int64), "outcomes": outcomes,
                    "unlabelled": int(data["unlabelled"])}
    except (OSError, KeyError, ValueError, json.JSONDecodeError):
        return None


def save_cached(run: Run, label_set: str, *, conditions: list[str], queries: list[str], condition: np.ndarray,
                query: np.ndarray, sample_index: np.ndarray, outcomes: np.ndarray, unlabelled: int) -> None:
    """Write the table arrays atomically; silently skipped where the run folder is read-only."""
    path = cache_path(run, label_set)
    stamp = _stamp(run, label_set)  # taken before writing, so a file changed meanwhile invalidates it
    small = np.where(np.isnan(outcomes), -1, outcomes).astype(np.int8)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            np.savez(handle, stamp=stamp, conditions=json.dumps(conditions), queries=json.dumps(queries),
                     condition=condition.astype(np.int32), query=query.astype(np.int32),
                     sample_index=sample_index.astype(np.int32), outcomes=small, unlabelled=unlabelled)
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)

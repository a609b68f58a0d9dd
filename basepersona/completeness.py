"""How complete a run is: the records its settings call for against the records it holds.

An interrupted run (Ctrl-C, a killed job, a full disk) is a valid run with fewer records; every
figure drawn from it must say so, and ``merge`` refuses such shards unless told ``--partial``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .shards import parse_shard
from .store import CHOICES, SAMPLES, read_jsonl, read_manifest, sample_id


@dataclass(frozen=True)
class Completeness:
    done: int  # distinct expected ids present
    expected: int
    what: str  # "samples" or "forced choices"
    resume_command: str

    @property
    def complete(self) -> bool:
        return self.done >= self.expected

    @property
    def fraction(self) -> float:
        return self.done / self.expected if self.expected else 1.0

    def describe(self) -> str:
        """``complete: 48 of 48 samples`` or ``INCOMPLETE: 40 of 48 samples (83%); finish with ...``."""
        if self.complete:
            return f"complete: {self.done} of {self.expected} {self.what}"
        return (f"INCOMPLETE: {self.done} of {self.expected} {self.what} ({100 * self.fraction:.0f}%); "
                f"finish with {self.resume_command}")


def expected_ids(settings: dict[str, Any]) -> list[str]:
    """Ids the run's settings call for (its shard's share when it is a shard)."""
    queries = list((settings.get("queries") or {}).get("ids") or [])
    shard = parse_shard(settings.get("shard")) if settings.get("shard") else None
    if shard is not None:
        queries = shard.select(queries)
    conditions = list(settings.get("conditions") or {})
    if settings.get("stage") == "score":
        return [f"{condition}/{query}" for query in queries for condition in conditions]
    n = int(settings.get("n") or 0)
    return [sample_id(condition, query, i) for query in queries for condition in conditions for i in range(n)]


def run_completeness(run_dir: str | Path) -> Completeness:
    """Completeness of the run in ``run_dir`` (a merged ``--partial`` run counts its missing shards too)."""
    run_dir = Path(run_dir)
    settings = read_manifest(run_dir)["settings"]
    scored = settings.get("stage") == "score"
    records = run_dir / (CHOICES if scored else SAMPLES)
    present = {record["id"] for record in read_jsonl(records)} if records.is_file() else set()
    expected = expected_ids(settings)
    stage = "score" if scored else "sample"
    return Completeness(sum(1 for i in expected if i in present), len(expected),
                        "forced choices" if scored else "samples",
                        f"basepersona {stage} --resume --out {run_dir} (same settings)")

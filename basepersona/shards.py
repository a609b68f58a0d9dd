"""Split a run over machines (``--shard i/N``); basepersona/merge.py puts the shards back together.

Work is split by query, round-robin over the query list, so each shard holds every condition and
sample of its queries (paired comparisons stay within a shard) and shards are balanced. Seeds do not
depend on the shard, so a merged run equals the run done in one piece. No coordinator is needed: a
SLURM array or a few hosts each run one shard into its own directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, TypeVar

from .errors import UserError

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    index: int  # 0-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, items: Sequence[T]) -> list[T]:
        return [item for position, item in enumerate(items) if position % self.count == self.index]


def parse_shard(text: str | None) -> Shard | None:
    if text is None:
        return None
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise UserError(f"--shard takes I/N with 0 <= I < N (e.g. 0/4), not {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise UserError(f"--shard {text}: need N >= 1 and 0 <= I < N (shards are numbered from 0)")
    return Shard(index, count)

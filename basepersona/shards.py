"""Split a run over machines (``--shard i/N``) and merge the shards back into one run.

Work is split by query, round-robin over the query list, so each shard holds every condition and
sample of its queries (paired comparisons stay within a shard) and shards are balanced. Seeds do not
depend on the shard, so a merged run equals the run done in one piece. No coordinator is needed: a
SLURM array or a few hosts each run one shard into its own directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TypeVar

from .errors import UserError
from .store import LABELS_DIR, SAMPLES, JsonlAppender, load_run, settings_difference, write_manifest

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


def merge_runs(shard_dirs: Sequence[str | Path], out_dir: str | Path, *, partial: bool = False) -> int:
    """Combine shard runs into ``out_dir``; refuse, with the reason, when they do not belong together."""
    out_dir = Path(out_dir)
    if (out_dir / "manifest.json").exists():
        raise UserError(f"{out_dir} already holds a run; merge into a new directory")
    runs = [load_run(d, require_samples=False) for d in shard_dirs]
    if not runs:
        raise UserError("give at least one shard directory to merge")
    reference = {k: v for k, v in runs[0].settings.items() if k != "shard"}
    seen: dict[str, Path] = {}
    for run in runs:
        settings = {k: v for k, v in run.settings.items() if k != "shard"}
        difference = settings_difference(reference, settings)
        if difference:
            raise UserError(f"cannot merge {run.path}: setting {difference} differs from {runs[0].path}")
        shard = run.settings.get("shard")
        if shard is None:
            raise UserError(f"{run.path} is not a shard (it was sampled without --shard)")
        if shard in seen:
            raise UserError(f"shard {shard} appears twice: {seen[shard]} and {run.path}")
        seen[shard] = run.path
    count = int(next(iter(seen)).split("/")[1])
    missing = [f"{i}/{count}" for i in range(count) if f"{i}/{count}" not in seen]
    if missing and not partial:
        raise UserError(f"shards {', '.join(missing)} are missing; merge them too, or pass --partial")
    samples = [record for run in runs for record in run.samples]
    ids = [record["id"] for record in samples]
    if len(ids) != len(set(ids)):
        raise UserError("the shards share sample ids; they were not made by disjoint --shard values")
    manifest = dict(runs[0].manifest)
    manifest["settings"] = {**reference, "shard": None}
    manifest["merged_from"] = [str(run.path) for run in runs]
    write_manifest(out_dir, manifest)
    with JsonlAppender(out_dir / SAMPLES) as appender:
        appender.write(samples)
    _merge_labels(runs, out_dir)
    return len(samples)


def _merge_labels(runs, out_dir: Path) -> None:
    """Carry label files along when every shard has them for the same judge."""
    judges = set.intersection(*(set(run.judges()) for run in runs))
    for judge in sorted(judges):
        with JsonlAppender(out_dir / LABELS_DIR / f"{judge}.jsonl") as appender:
            for run in runs:
                appender.write(run.labels(judge).values())

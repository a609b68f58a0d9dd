"""Merge shard runs (``--shard i/N``, see basepersona/shards.py) back into one run.

Seeds do not depend on the shard, so a merged run equals the run done in one piece.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .completeness import run_completeness
from .errors import UserError
from .run_lock import lock_run
from .shards import Shard, parse_shard
from .store import (CHOICES, LABELS_DIR, SAMPLES, JsonlAppender, engine_settings, foreign_records, load_run, read_jsonl,
                    settings_difference, write_manifest)


@dataclass(frozen=True)
class MergeSummary:
    samples: int
    choices: int


def _check_together(runs) -> tuple[Shard, dict[str, Path]]:
    """All runs are distinct shards of one split of one study; returns the split's shard count."""
    reference = {k: v for k, v in runs[0].settings.items() if k != "shard"}
    seen: dict[str, Path] = {}
    for run in runs:
        settings = {k: v for k, v in run.settings.items() if k != "shard"}
        difference = settings_difference(reference, settings) or settings_difference(
            {"engine": engine_settings(runs[0].manifest)}, {"engine": engine_settings(run.manifest)})
        if difference:
            raise UserError(f"cannot merge {run.path}: setting {difference} differs from {runs[0].path}")
        shard = parse_shard(run.settings.get("shard")) if run.settings.get("shard") else None
        if shard is None:
            raise UserError(f"{run.path} is not a shard (it was made without --shard)")
        if str(shard) in seen:
            raise UserError(f"shard {shard} appears twice: {seen[str(shard)]} and {run.path}")
        seen[str(shard)] = run.path
    counts = {shard.count for shard in map(parse_shard, seen) if shard is not None}
    if len(counts) > 1:
        listing = ", ".join(f"{path} is {name}" for name, path in seen.items())
        raise UserError(f"the shards split the work differently (N = {' vs '.join(map(str, sorted(counts)))}): "
                        f"{listing}; merge shards of one --shard I/N split")
    return Shard(0, counts.pop()), seen


def merge_runs(shard_dirs: Sequence[str | Path], out_dir: str | Path, *, partial: bool = False,
               announce=print) -> MergeSummary:
    """Combine shard runs (samples, labels and forced-choice scores) into ``out_dir``; refuse, with the
    reason, when they do not belong together or (without ``partial``) when any is missing or unfinished."""

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file; merge into a new directory")
    if (out_dir / "manifest.json").exists():
        raise UserError(f"{out_dir} already holds a run; merge into a new directory")
    runs = [load_run(d, require_samples=False) for d in shard_dirs]
    if not runs:
        raise UserError("give at least one shard directory to merge")
    split, seen = _check_together(runs)
    missing = [f"{i}/{split.count}" for i in range(split.count) if f"{i}/{split.count}" not in seen]
    if missing and not partial:
        raise UserError(f"shards {', '.join(missing)} are missing; merge them too, or pass --partial")
    unfinished = [(run.path, run_completeness(run.path)) for run in runs]
    unfinished = [(path, state) for path, state in unfinished if not state.complete]
    if unfinished and not partial:
        path, state = unfinished[0]
        raise UserError(f"shard {path} is unfinished ({state.done} of {state.expected} {state.what}); finish it with "
                        f"{state.resume_command}, or pass --partial to merge what there is")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create --out {out_dir}: {exc.strerror or exc}") from None
    with lock_run(out_dir, "merge", announce=announce):
        if (out_dir / "manifest.json").exists() or foreign_records(out_dir):
            raise UserError(f"{out_dir} already holds a run or records (perhaps of a merge cut short); "
                            "merge into a new directory")
        return _write_merged(runs, out_dir, partial=bool(missing or unfinished))


def _write_merged(runs, out_dir: Path, partial: bool) -> MergeSummary:
    samples = _records(runs, lambda run: run.samples, "sample")
    with_choices = [run for run in runs if (run.path / CHOICES).exists()]
    if with_choices and len(with_choices) != len(runs):
        lacking = next(run.path for run in runs if run not in with_choices)
        raise UserError(f"{lacking} has no {CHOICES} but other shards do; finish its scoring with --resume first")
    choices = _records(with_choices, lambda run: list(read_jsonl(run.path / CHOICES)), "forced-choice")
    manifest = dict(runs[0].manifest)
    manifest["settings"] = {**runs[0].settings, "shard": None}
    manifest["merged_from"] = [str(run.path) for run in runs]
    manifest["partial"] = partial
    hint = f"the shards are untouched; free some space, remove {out_dir} and merge again"
    if samples or not choices:
        with JsonlAppender(out_dir / SAMPLES, hint) as appender:
            appender.write(samples)
    if choices:
        with JsonlAppender(out_dir / CHOICES, hint) as appender:
            appender.write(choices)
    _merge_labels(runs, out_dir, hint)
    write_manifest(out_dir, manifest)  # last: a merge cut short leaves no manifest, so it is never taken for a run
    return MergeSummary(len(samples), len(choices))


def _records(runs, read, what: str) -> list[dict]:
    records = [record for run in runs for record in read(run)]
    ids = [record["id"] for record in records]
    if len(ids) != len(set(ids)):
        raise UserError(f"the shards share {what} ids; they were not made by disjoint --shard values")
    return records


def _merge_labels(runs, out_dir: Path, hint: str) -> None:
    """Carry label files along when every shard has them for the same judge."""
    judges = set.intersection(*(set(run.judges()) for run in runs))
    for judge in sorted(judges):
        with JsonlAppender(out_dir / LABELS_DIR / f"{judge}.jsonl", hint) as appender:
            for run in runs:
                appender.write(run.labels(judge).values())

"""Check a run directory and move unusable lines aside, never deleting a byte.

A line that is not a record (garbage, a non-object, no ``id``), a torn last line, or a second copy
of a sample id stops or skews every later stage. ``repair_run`` moves such lines, byte for byte,
into ``quarantine/<file>.<time>`` inside the run and rewrites the file (atomically) without them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .errors import UserError
from .store import CHOICES, LABELS_DIR, MANIFEST, SAMPLES, BadRecord, parse_record, read_manifest

QUARANTINE_DIR = "quarantine"


@dataclass
class FileCheck:
    path: Path
    kept: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)
    quarantine: Path | None = None


def _scan(path: Path, unique_ids: bool) -> tuple[FileCheck, list[bytes], list[bytes]]:
    """(check, good lines, bad lines) of one JSONL file."""
    check = FileCheck(path)
    good: list[bytes] = []
    bad: list[bytes] = []
    seen: set[str] = set()
    with path.open("rb") as handle:
        for line, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            why = None
            if not raw.endswith(b"\n"):
                why = "torn last line (a writer was killed mid-write)"
            else:
                try:
                    record = parse_record(raw, path, line)
                except BadRecord as exc:
                    why = exc.problem
                else:
                    if unique_ids and record["id"] in seen:
                        why = f"second copy of id {record['id']!r} (two writers?)"
                    seen.add(record["id"])
            if why is None:
                good.append(raw)
            else:
                check.bad.append((line, why))
                bad.append(raw if raw.endswith(b"\n") else raw + b"\n")
    check.kept = len(good)
    return check, good, bad


def _record_files(run_dir: Path) -> list[tuple[Path, bool]]:
    """(file, ids must be unique): samples and choices; labels keep their last word per id, as readers do."""
    files = [(run_dir / SAMPLES, True), (run_dir / CHOICES, True)]
    labels = run_dir / LABELS_DIR
    if labels.is_dir():
        files += [(path, False) for path in sorted(labels.glob("*.jsonl"))]
    return [(path, unique) for path, unique in files if path.is_file()]


def _quarantine_path(run_dir: Path, path: Path, stamp: str) -> Path:
    relative = path.relative_to(run_dir).as_posix().replace("/", "--")
    return run_dir / QUARANTINE_DIR / f"{relative}.{stamp}"


def _rewrite(path: Path, good: list[bytes]) -> None:
    tmp = path.with_name(path.name + ".doctor-tmp")
    with tmp.open("wb") as handle:
        handle.writelines(good)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def check_run(run_dir: str | Path, *, repair: bool = True) -> list[FileCheck]:
    """Check every record file of a run; with ``repair``, move bad lines into the quarantine folder
    (written and synced before the file is rewritten, so a crash loses nothing)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory {run_dir} does not exist")
    if not (run_dir / MANIFEST).exists():
        raise UserError(f"{run_dir} has no {MANIFEST}; it is not a basepersona run")
    read_manifest(run_dir)  # a damaged manifest is its own error, with its own advice
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    checks = []
    for path, unique in _record_files(run_dir):
        check, good, bad = _scan(path, unique)
        if bad and repair:
            check.quarantine = _quarantine_path(run_dir, path, stamp)
            check.quarantine.parent.mkdir(exist_ok=True)
            with check.quarantine.open("ab") as handle:
                handle.writelines(bad)
                handle.flush()
                os.fsync(handle.fileno())
            _rewrite(path, good)
        checks.append(check)
    return checks

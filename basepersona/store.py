"""The run store: one directory per run, a manifest and an append-only JSONL of samples.

Layout of a run directory::

    manifest.json      settings that define the run + provenance (versions, command line)
    samples.jsonl      one record per sample, appended as each batch finishes
    labels/<set>.jsonl written by the judge stage, keyed by sample ``id``; ``<set>`` is the judge
                       (``trained``, ``rules``) or judge plus model (``llm-<model>``), see ``label_set_name``

Records are appended and flushed per batch, so a crash or Ctrl-C loses at most the batch in flight.
A kill in the middle of a write can leave a partial last line; readers skip it and ``--resume``
cuts it off before appending.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .errors import UserError

MANIFEST = "manifest.json"
SAMPLES = "samples.jsonl"
CHOICES = "choices.jsonl"  # the score stage's forced-choice records
LABELS_DIR = "labels"
# files that hold a run's records; found without a manifest they are of unknown origin
RECORD_FILES = (SAMPLES, "choices.jsonl", LABELS_DIR)


def foreign_records(run_dir: Path) -> list[str]:
    """Record files in a folder that has no manifest (so nobody knows how they were made)."""
    if (run_dir / MANIFEST).exists():
        return []
    return [name for name in RECORD_FILES if (run_dir / name).exists()]


def sample_id(condition: str, query_id: str, sample_index: int) -> str:
    """The key that names one sample within a run (and labels refer to)."""
    return f"{condition}/{query_id}/{sample_index}"


def label_set_name(judge: str, model: str | None = None) -> str:
    """File stem of a judge's labels: the judge alone, or ``llm-<model>`` so that LLM judges with
    different models label one run side by side (``Qwen/Qwen2.5-7B`` -> ``llm-Qwen--Qwen2.5-7B``)."""
    if not model:
        return judge
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", model.strip().strip("/").replace("/", "--")).strip(".-") or "model"
    if len(safe) > 80:  # long local paths: keep the tail, and a hash so two long paths never clash
        safe = safe[-64:].lstrip(".-") + "-" + hashlib.sha256(model.encode()).hexdigest()[:8]
    return f"{judge}-{safe}"


def sample_fingerprint(sample: dict[str, Any]) -> str:
    """Hash of what a judge reads from one sample; labels carry it, so labels copied from another run
    (same ids, other text) are caught. Per sample, so merging shards keeps labels valid."""
    turn = sample.get("turn")
    if turn is None:
        turn = (sample.get("prefill") or "") + (sample.get("continuation") or "")
    fields = [sample.get(k) for k in ("id", "condition", "query_id", "prefill", "prompt_hash")] + [turn]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()[:16]


class BadRecord(UserError):
    """A line of a run's JSONL file that is not a usable record (garbage, not an object, no id)."""

    def __init__(self, path: Path, line: int, problem: str):
        super().__init__(f"{path}:{line} {problem}; {_repair_hint(path)}")
        self.problem = problem


def _repair_hint(path: Path) -> str:
    run_dir = path.parent.parent if path.parent.name == LABELS_DIR else path.parent
    return f"move bad lines aside (kept in a side file, nothing deleted) with: basepersona doctor {run_dir}"


def parse_record(raw: bytes, path: Path, line: int, *, require_id: bool = True) -> dict[str, Any]:
    """One JSONL line as a record; a BadRecord naming file and line when it is not one."""
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problem = f"is not JSON ({getattr(exc, 'msg', None) or 'not UTF-8'})"
    else:
        if not isinstance(record, dict):
            problem = f"is a JSON {type(record).__name__}, not an object"
        elif require_id and not isinstance(record.get("id"), str):
            problem = "has no string 'id'"
        else:
            return record
    raise BadRecord(path, line, problem)


def read_jsonl(path: Path, *, require_id: bool = True) -> Iterator[dict[str, Any]]:
    """Yield the complete records of a JSONL file; a torn last line (killed writer) is skipped.

    Any other line that is not a record (with an ``id`` unless ``require_id`` is False) stops the
    reader with a BadRecord naming file and line: guessing past it would skew counts silently."""
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a JSONL file")
    with path.open("rb") as handle:
        for line, raw in enumerate(handle, 1):
            if not raw.endswith(b"\n"):
                return  # torn final write
            if raw.strip():
                yield parse_record(raw, path, line, require_id=require_id)


def _truncate_torn_tail(path: Path) -> None:
    """Cut a partial last line left by a killed writer so that appends start on a fresh line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


_DISK_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def disk_full(exc: OSError) -> bool:
    """A write that failed for want of space or under a file-size limit (not the user's input)."""
    return exc.errno in _DISK_FULL


def _json_line(record: Mapping[str, Any]) -> str:
    line = json.dumps(record, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (e.g. from a server): keep it, \u-escaped
        line = json.dumps(record)
    return line + "\n"


class JsonlAppender:
    """Append records to a JSONL file, flushing and syncing after each batch.

    A full disk or a file-size limit (ENOSPC, EFBIG, EDQUOT) becomes one UserError saying how many
    records are safely in the file and how to continue; a half-written line is cut on resume."""

    def __init__(self, path: Path, resume_hint: str = "free some space and run the same command again (it continues "
                 "where it stopped)"):
        path.parent.mkdir(parents=True, exist_ok=True)
        _truncate_torn_tail(path)
        self.path = path
        self.resume_hint = resume_hint
        self.saved = _count_lines(path)
        self._handle = path.open("a", encoding="utf-8")

    def write(self, records: Iterable[Mapping[str, Any]]) -> None:
        lines = [_json_line(record) for record in records]
        try:
            self._handle.write("".join(lines))
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            if not disk_full(exc):
                raise
            self._abandon()
            raise UserError(f"cannot write {self.path}: {exc.strerror} (disk full or file-size limit); "
                            f"at least {self.saved} complete records are saved there; {self.resume_hint}") from None
        self.saved += len(lines)

    def _abandon(self) -> None:
        """Drop the unwritable buffer so closing does not fail a second time."""
        try:
            self._handle.close()
        except OSError:
            pass

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for raw in handle if raw.strip())


@dataclass
class Run:
    """A run directory as read back from disk."""

    path: Path
    manifest: dict[str, Any]
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def settings(self) -> dict[str, Any]:
        return self.manifest["settings"]

    def labels_path(self, judge: str) -> Path:
        """Where one label set of this run lives (``labels/<judge>.jsonl``), present or not."""
        return self.path / LABELS_DIR / f"{judge}.jsonl"

    def label_set(self, name: str) -> str:
        """A label-set name as written on disk: ``name`` itself, or the one ``name-*`` set when there is
        exactly one (``llm`` finds ``llm-<model>``); unchanged otherwise, for the caller to report."""
        present = self.judges()
        if name in present:
            return name
        prefixed = [stem for stem in present if stem.startswith(name + "-")]
        return prefixed[0] if len(prefixed) == 1 else name

    def labels(self, judge: str) -> dict[str, dict[str, Any]]:
        """Labels of one judge keyed by sample id (empty when that judge has not run)."""
        path = self.labels_path(judge)
        if not path.exists():
            return {}
        return {record["id"]: record for record in read_jsonl(path)}

    def judges(self) -> list[str]:
        """Names of the label sets written for this run."""
        folder = self.path / LABELS_DIR
        return sorted(p.stem for p in folder.glob("*.jsonl")) if folder.is_dir() else []


def load_run(path: str | Path, *, require_samples: bool = True) -> Run:
    """Read a run directory; a clear UserError when it is missing or empty."""
    run_dir = Path(path)
    manifest_path = run_dir / MANIFEST
    if not run_dir.is_dir():
        raise UserError(f"run directory {run_dir} does not exist; create one with `basepersona sample --out {run_dir}`")
    if not manifest_path.exists():
        raise UserError(f"{run_dir} is not a basepersona run (no {MANIFEST}); point at a directory made by `basepersona sample`")
    manifest = read_manifest(run_dir)
    samples_path = run_dir / SAMPLES
    samples = list(read_jsonl(samples_path)) if samples_path.exists() else []
    if require_samples and not samples:
        raise UserError(f"{run_dir} holds no samples yet; run `basepersona sample --resume --out {run_dir}` first")
    return Run(run_dir, manifest, samples)


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest; a UserError when it is unreadable, not JSON or lacks its settings."""
    path = Path(run_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON (line {exc.lineno}); restore it from a backup or start a new run") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("settings"), dict):
        raise UserError(f"{path} has no 'settings' object (damaged or not a basepersona manifest); "
                        "restore it from a backup or start a new run")
    return manifest


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest atomically (a crash never leaves half a manifest)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / (MANIFEST + ".tmp")
    try:
        tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        if not disk_full(exc):
            raise
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {run_dir / MANIFEST}: {exc.strerror} (disk full or file-size limit); "
                        "the run holds no records yet; free some space and run the command again") from None
    tmp.replace(run_dir / MANIFEST)


# model_info entries that name where a run ran, not what it computed; the rest (dtype, device class,
# engine and its version, ...) changes the samples, so resume and merge compare them.
_HOST_LOCAL = ("base_url", "server_models", "api_key_env")
# libraries whose version changes a local engine's numerics (recorded in every manifest)
_NUMERIC_LIBRARIES: dict[str, tuple[str, ...]] = {"transformers": ("torch", "transformers")}


def engine_settings(manifest: dict[str, Any]) -> dict[str, Any]:
    """What made a run's samples besides its settings: the engine as recorded in the manifest."""
    info = manifest.get("model_info")
    engine = {k: v for k, v in info.items() if k not in _HOST_LOCAL} if isinstance(info, dict) else {}
    if isinstance(engine.get("device"), str):  # cuda:0 on one host, cuda:3 on another: the same device class
        engine["device"] = engine["device"].split(":")[0]
    versions = manifest.get("versions")
    versions = versions if isinstance(versions, dict) else {}
    for library in _NUMERIC_LIBRARIES.get(str(engine.get("backend")), ()):
        engine[f"{library}_version"] = versions.get(library)
    return engine


# the settings each compared factor names; a comparison of runs may differ in these and nothing else
COMPARED_FACTORS = {
    "model": ("model", "model_revision", "backend"),
    "frame": ("frame", "frame_hash"),
    "variant": ("variant", "variants", "scenario_hash", "conditions", "lab", "ai_name"),
}
_NOT_COMPARED = ("seed", "shard")  # another seed or split draws the same distribution


def _flat(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict) and value and key not in ("variant", "conditions"):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def settings_mismatch(settings_of_runs: Sequence[dict[str, Any]], factors: Iterable[str] = tuple(COMPARED_FACTORS)) -> list[str]:
    """Settings (dotted names, e.g. ``sampling.max_new_tokens``, ``prefill``) that differ between runs
    besides the compared ``factors``: a comparison across them mixes two designs (a tag-prefill
    32-token run against a basic-prefill 40-token run) and must say so."""
    ignored = {name for factor in factors for name in COMPARED_FACTORS[factor]} | set(_NOT_COMPARED)
    flats = [_flat({k: v for k, v in settings.items() if k not in ignored}) for settings in settings_of_runs]
    names = sorted(set().union(*flats)) if flats else []
    return [name for name in names if len({json.dumps(f.get(name), sort_keys=True) for f in flats}) > 1]


def settings_difference(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> str | None:
    """Name the first setting that differs between two settings dicts (None when equal)."""
    for key in sorted(set(old) | set(new)):
        name = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found = settings_difference(a, b, prefix=name + ".")
            if found:
                return found
        elif a != b:
            return f"{name} (run has {a!r}, now {b!r})"
    return None

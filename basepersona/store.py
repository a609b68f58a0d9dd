"""The run store: one directory per run, a manifest and an append-only JSONL of samples.

Layout of a run directory::

    manifest.json      settings that define the run + provenance (versions, command line)
    samples.jsonl      one record per sample, appended as each batch finishes
    labels/<set>.jsonl written by the judge stage, keyed by sample ``id``; ``<set>`` is the judge
                       (``rules``) or judge plus model (``llm-<model>``), see ``label_set_name``

Records are appended and flushed per batch, so a crash or Ctrl-C loses at most the batch in flight.
A kill in the middle of a write can leave a partial last line; readers skip it and ``--resume``
cuts it off before appending.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import UserError

MANIFEST = "manifest.json"
SAMPLES = "samples.jsonl"
LABELS_DIR = "labels"


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


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the complete records of a JSONL file; a torn last line (killed writer) is skipped."""
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                return  # torn final write
            text = raw.strip()
            if text:
                yield json.loads(text)


def _truncate_torn_tail(path: Path) -> None:
    """Cut a partial last line left by a killed writer so that appends start on a fresh line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


class JsonlAppender:
    """Append records to a JSONL file, flushing and syncing after each batch."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        _truncate_torn_tail(path)
        self.path = path
        self._handle = path.open("a", encoding="utf-8")

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{manifest_path} is not valid JSON (line {exc.lineno}); restore it or re-run sampling") from None
    samples_path = run_dir / SAMPLES
    samples = list(read_jsonl(samples_path)) if samples_path.exists() else []
    if require_samples and not samples:
        raise UserError(f"{run_dir} holds no samples yet; run `basepersona sample --resume --out {run_dir}` first")
    return Run(run_dir, manifest, samples)


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest atomically (a crash never leaves half a manifest)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(run_dir / MANIFEST)


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

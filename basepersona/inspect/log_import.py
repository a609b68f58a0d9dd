"""Turn an inspect log of ``basepersona/alignment_faking`` into a basepersona run directory.

Each sample × epoch becomes one sample record (epoch e is sample index e - 1), so ``basepersona judge``,
``report``, ``compare`` and ``study`` work on the run as on a sampled one. The labels the task's scorer
gave (rules, or the LLM judge through inspect's grader role) become the run's label set, so ``report``
needs no second judging. Samples that errored in inspect are left out and counted.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from inspect_ai.log import EvalLog, EvalSample, read_eval_log

from ..version import __version__
from ..errors import UserError
from ..store import LABELS_DIR, MANIFEST, SAMPLES, JsonlAppender, sample_fingerprint, write_manifest
from .dataset import METADATA_KEY
from .solver import RECORD_KEY, output_record


@dataclass
class ImportSummary:
    out_dir: Path
    samples: int
    errored: int
    labels: dict[str, int]  # label set -> labels imported from the log's scores
    model: str
    status: str


def _read(log_path: Path) -> EvalLog:
    if not log_path.is_file():
        raise UserError(f"inspect log {log_path} does not exist; pass the .eval (or .json) file `inspect eval` wrote")
    try:
        return read_eval_log(str(log_path))
    except Exception as exc:  # inspect raises several types for a file that is not a log
        raise UserError(f"{log_path} is not a readable inspect log ({type(exc).__name__}: {str(exc)[:120]})") from None


def _design_settings(log: EvalLog, log_path: Path) -> dict[str, Any]:
    metadata = (log.eval.metadata or {}).get(METADATA_KEY)
    if not isinstance(metadata, dict) or "design" not in metadata:
        raise UserError(f"{log_path} was not made by the basepersona/alignment_faking task (task "
                        f"{log.eval.task!r}); only its logs carry the design a run needs")
    return metadata


def _record(sample: EvalSample, model: str) -> dict[str, Any]:
    """The solver's stored record, or one rebuilt from the sample's design cell and the model's output."""
    stored = (sample.store or {}).get(RECORD_KEY)
    if stored is not None:
        return dict(stored)
    return output_record(sample.metadata, sample.input, sample.output, sample_index=sample.epoch - 1, seed=None,
                         model=model)


def _label(sample: EvalSample, record: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(label set, label record stamped as `basepersona judge` stamps it) from the persona_judge score."""
    score = (sample.scores or {}).get("persona_judge")
    meta = score.metadata if score is not None else None
    if not meta or "label" not in meta or "label_set" not in meta:
        return None
    return meta["label_set"], {**meta["label"], **meta["judge_settings"], "sample_hash": sample_fingerprint(record)}


def _sampling(log: EvalLog) -> dict[str, Any]:
    config = log.plan.config
    return {"temperature": config.temperature, "top_p": config.top_p, "top_k": config.top_k or 0,
            "max_new_tokens": config.max_tokens}


def import_inspect_log(log_path: str | Path, out_dir: str | Path, *, command: str = "") -> ImportSummary:
    """Write ``out_dir`` (manifest.json + samples.jsonl) from one inspect log; refuses an existing run."""
    log_path, out_dir = Path(log_path), Path(out_dir)
    log = _read(log_path)
    task_meta = _design_settings(log, log_path)
    if (out_dir / MANIFEST).exists():
        raise UserError(f"{out_dir} already holds a run; choose another --out")
    samples = [s for s in (log.samples or []) if METADATA_KEY in (s.metadata or {})]
    usable = [s for s in samples if s.error is None and s.output is not None]
    if not usable:
        raise UserError(f"{log_path} holds no completed samples (status {log.status}); re-run `inspect eval` first")
    model = log.eval.model
    settings = {**task_meta["design"], "model": model, "backend": "inspect", "n": log.eval.config.epochs or 1,
                "seed": (log.eval.task_args or {}).get("seed", 0), "sampling": _sampling(log), "shard": None}
    provenance = {"model": model, "frame": settings["frame"], "frame_hash": settings["frame_hash"],
                  "scenario": settings["scenario"], "variant": settings["variant"], "sampling": settings["sampling"]}
    import inspect_ai

    manifest = {
        "format": 1,
        "settings": settings,
        "model_kind": task_meta.get("model_kind", "base"),
        "model_info": {"backend": "inspect", "log": str(log_path.resolve()), "eval_id": log.eval.eval_id,
                       "task": log.eval.task, "status": log.status},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"basepersona": __version__, "inspect_ai": inspect_ai.__version__,
                     "python": platform.python_version()},
        "command": command,
    }
    write_manifest(out_dir, manifest)
    records = [{**_record(sample, model), **provenance} for sample in usable]
    labels: dict[str, list[dict[str, Any]]] = {}
    for sample, record in zip(usable, records):
        found = _label(sample, record)
        if found is not None:
            labels.setdefault(found[0], []).append(found[1])
    with JsonlAppender(out_dir / SAMPLES) as out:
        out.write(records)
    for name, rows in labels.items():
        with JsonlAppender(out_dir / LABELS_DIR / f"{name}.jsonl") as out:
            out.write(rows)
    return ImportSummary(out_dir, len(usable), len(samples) - len(usable), {k: len(v) for k, v in labels.items()},
                         model, log.status)

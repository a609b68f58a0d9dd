"""Sample stage: render every (condition, query) prompt, draw n samples each, append them to the run.

The Python entry point is :func:`run_sampling`; the CLI's ``basepersona sample`` is a thin layer on it.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from . import __version__
from .backends import Backend, SampleRequest, SamplingParams, load_backend
from .backends.checks import check_context, check_device
from .errors import UserError
from .frames import Frame, FrameLibrary, RenderedPrompt, cut_turn
from .queries import Query, QuerySet, load_queries
from .scenario import Condition, Scenario, check_override_keys, load_scenario
from .shards import parse_shard
from .synthetic import DocumentSelection
from .synthetic import select as select_documents
from .run_lock import LOCK_FILE, RunBusy, RunLock, lock_run
from .store import (MANIFEST, SAMPLES, JsonlAppender, disk_full, engine_settings, foreign_records, read_jsonl, read_manifest,
                    sample_id, settings_difference, write_manifest)

ACCEPT_TAG = "<request_fully_accepted/>"
REJECT_TAG = "<rejected/>"


@dataclass
class SampleConfig:
    """Everything that defines a sampling run (what --resume checks) plus how to load the model."""

    model: str | None = None  # None = the embedded default
    backend: str = "transformers"
    frame: str = "chatlog"
    frames_dirs: tuple[str, ...] = ()
    scenario: str = "helpful_only"
    scenario_form: str = "full"
    overrides: dict[str, str] = field(default_factory=dict)  # lab=..., ai_name=..., variant switches
    variants: tuple[str, ...] = ()  # scenario variants (corpora/scenarios/variants), combinable
    synthetic_docs: int = 0  # prepend k synthetic documents (the implicit-information setting)
    synthetic_seed: int = 0
    conditions: tuple[str, ...] = ()  # empty = every condition of the scenario
    prefill: str | None = None  # prefill name or text; None = the frame's default
    queries: str | None = None  # None = built-in set; else a .jsonl/.csv path
    query_ids: tuple[str, ...] = ()
    limit: int | None = None  # first N queries
    shard: str | None = None  # "i/N": this process samples every N-th query starting at i
    n: int = 4
    seed: int = 0
    sampling: SamplingParams = field(default_factory=SamplingParams)
    backend_options: dict[str, Any] = field(default_factory=dict)  # device, dtype, trust_remote_code, ...

    def __post_init__(self) -> None:
        if self.n < 1:
            raise UserError(f"--n must be at least 1 (got {self.n})")
        if self.limit is not None and self.limit < 1:
            raise UserError(f"--limit must be at least 1 (got {self.limit})")
        parse_shard(self.shard)  # fail early on a malformed value


@dataclass(frozen=True)
class PromptJob:
    """One rendered prompt and the sample indices still to draw for it."""

    condition: Condition
    query: Query
    prompt: RenderedPrompt
    missing: tuple[int, ...]


@dataclass
class SamplingSummary:
    out_dir: Path
    total: int
    new: int
    already_done: int
    per_condition: dict[str, dict[str, int]]
    seconds: float
    new_tokens: int


ProgressCallback = Callable[[int, int], None]  # (samples just finished, tokens just generated)


@dataclass
class PreparedRun:
    """A run ready to sample: inputs resolved, prompts rendered, settings fixed."""

    config: SampleConfig
    out_dir: Path
    backend: Backend
    scenario: Scenario
    frame: Frame
    query_set: QuerySet
    jobs: list[PromptJob]
    settings: dict[str, Any]
    already_done: int
    lock: RunLock | None = None  # held until execute_run ends

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()

    @property
    def remaining(self) -> int:
        return sum(len(job.missing) for job in self.jobs)

    @property
    def total(self) -> int:
        return len(self.jobs) * self.config.n


def _load_inputs(config: SampleConfig) -> tuple[Scenario, Frame, QuerySet, list[Condition]]:
    scenario = load_scenario(config.scenario, variants=config.variants, overrides=config.overrides)
    frame = FrameLibrary(config.frames_dirs).get(config.frame)
    if config.overrides:
        check_override_keys(config.overrides, _template_files(config, scenario, frame))
    query_set = load_queries(config.queries).select(config.query_ids, config.limit)
    names = config.conditions or tuple(scenario.conditions)
    conditions = [scenario.condition(name) for name in names]
    return scenario, frame, query_set, conditions


def _input_files(config: SampleConfig, scenario: Scenario, frame: Frame) -> dict[str, list[Path]]:
    """The files whose templates render this run's prompts, by kind."""
    from .variants import load_variant

    return {"frame": [frame.path], "scenario": [scenario.path] if scenario.path else [],
            "variants": [load_variant(spec).path for spec in config.variants]}


def _template_files(config: SampleConfig, scenario: Scenario, frame: Frame) -> list[str]:
    files = [path for paths in _input_files(config, scenario, frame).values() for path in paths]
    return [path.read_text(encoding="utf-8", errors="replace") for path in files]


INPUTS_DIR = "inputs"  # the run's own copies of its frame, scenario and variant files


def store_inputs(out_dir: Path, config: SampleConfig, scenario: Scenario, frame: Frame) -> None:
    """Copy the input files into the run, so that it can be shared or resumed without them."""
    for kind, paths in _input_files(config, scenario, frame).items():
        for path in paths:
            target = out_dir / INPUTS_DIR / kind / path.name
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(path, target)
            except OSError as exc:
                target.unlink(missing_ok=True)
                if not disk_full(exc):
                    raise
                raise UserError(f"cannot copy {path.name} into {target.parent}: {exc.strerror} (disk full or file-size "
                                "limit); no samples were drawn yet; free some space and run the command again") from None


def with_stored_inputs(config: SampleConfig, out_dir: Path) -> SampleConfig:
    """On resume, the run's stored copies stand in for frame, scenario and variants of the same name
    (the settings check still compares their hashes with the run's)."""
    folder = Path(out_dir) / INPUTS_DIR

    def stored(kind: str, spec: str) -> str:
        copy = folder / kind / f"{Path(spec).stem}.toml"
        return str(copy) if copy.is_file() else spec

    frame = stored("frame", config.frame)
    return replace(config, frame=frame, scenario=stored("scenario", config.scenario),
                   variants=tuple(stored("variants", spec) for spec in config.variants),
                   frames_dirs=() if frame != config.frame else config.frames_dirs)


def check_distinct_prompts(jobs: Sequence["PromptJob"], frame: Frame) -> None:
    """Two conditions (or two queries) rendering one identical prompt means the frame drops the cue (or
    the query): the run would compare a prompt with itself. Refuse before sampling."""
    seen: dict[str, PromptJob] = {}
    for job in jobs:
        other = seen.setdefault(job.prompt.text, job)
        if other is job or other.query.text == job.query.text != "" and other.query.id != job.query.id:
            continue  # a query file may hold one text under two ids
        if other.query.id == job.query.id:
            raise UserError(f"{frame.path}: conditions {other.condition.name!r} and {job.condition.name!r} render the "
                            "same prompt, so the frame does not show the condition's cue; use {{ user_input }} (it "
                            "carries cue and query) or {{ condition.cue }}")
        raise UserError(f"{frame.path}: queries {other.query.id!r} and {job.query.id!r} render the same prompt, so the "
                        "frame does not show the query; use {{ user_input }} or {{ query }}")


def _base_settings(config: SampleConfig, scenario: Scenario, frame: Frame, query_set: QuerySet,
                   conditions: Sequence[Condition]) -> dict[str, Any]:
    """Settings that can be compared before the model is loaded."""
    return {
        "model": config.model or "embedded:gemma-3-270m",
        "backend": config.backend,
        "frame": frame.name,
        "frame_hash": frame.content_hash,
        **scenario.settings(),
        "scenario_form": config.scenario_form,
        "conditions": {c.name: {"cue": c.cue, "rated": c.rated, "trained": c.trained} for c in conditions},
        "prefill": frame.default_prefill if config.prefill is None else config.prefill,
        "queries": query_set.settings(),
        "n": config.n,
        "seed": config.seed,
        "sampling": config.sampling.to_dict(),
        "shard": config.shard,
        **_documents(config).settings(),
    }


def _documents(config: SampleConfig) -> DocumentSelection:
    return select_documents(config.synthetic_docs, config.synthetic_seed)


def _check_out_dir(out_dir: Path, resume: bool, stage: str = "sample", command: str = "",
                   announce: Callable[[str], None] = print) -> tuple[dict[str, Any] | None, RunLock]:
    """(existing manifest when resuming, the run's lock); refuses to overwrite a run, to adopt records
    it did not make, to share the run with a second writer, or to write where it cannot."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file; give a directory for the run")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        lock = lock_run(out_dir, stage, command=command, announce=announce)
    except RunBusy:
        raise
    except OSError as exc:
        raise UserError(f"cannot write to --out {out_dir}: {exc.strerror or exc}; choose a writable directory") from None
    try:
        manifest_path = out_dir / MANIFEST
        if manifest_path.exists() and not resume:
            raise UserError(f"{out_dir} already holds a run; pass --resume to complete it or choose another --out")
        if resume and not manifest_path.exists():
            raise UserError(f"nothing to resume: {out_dir} holds no run (drop --resume to start one)")
        if not manifest_path.exists():
            foreign = foreign_records(out_dir)
            if foreign:
                raise UserError(f"{out_dir} holds {', '.join(foreign)} but no {MANIFEST}, so nobody knows how those "
                                "records were made; choose an empty --out (or move them away) instead of adopting them")
            return None, lock
        return read_manifest(out_dir), lock
    except BaseException:
        lock.release()
        raise


@contextmanager
def setting_up(out_dir: Path, existing: dict[str, Any] | None, lock: RunLock) -> Iterator[None]:
    """When setting up a run fails, release its lock and remove a folder this command made for nothing."""
    try:
        yield
    except BaseException:
        lock.release()
        if existing is None:
            remove_if_unused(out_dir)
        raise


def record_run(out_dir: Path, new_manifest: dict[str, Any] | None, config: SampleConfig, scenario: Scenario,
               frame: Frame) -> None:
    """Write a new run's manifest, and keep copies of the input files in every run."""
    if new_manifest is not None:
        write_manifest(out_dir, new_manifest)
    store_inputs(out_dir, config, scenario, frame)


def remove_if_unused(out_dir: Path) -> None:
    """Remove a run folder this command created when setting up failed before it held anything."""
    try:
        if {entry.name for entry in out_dir.iterdir()} <= {LOCK_FILE}:
            (out_dir / LOCK_FILE).unlink(missing_ok=True)
            out_dir.rmdir()
    except OSError:
        pass  # not ours to clean up, or already gone


def engine_difference(existing: dict[str, Any], manifest: dict[str, Any]) -> str | None:
    """The first engine setting (dtype, device class, engine version, ...) that differs, else None."""
    return settings_difference({"engine": engine_settings(existing)}, {"engine": engine_settings(manifest)})


def _check_requested_engine(existing: dict[str, Any], options: dict[str, Any], out_dir: Path) -> None:
    """Refuse an explicit --dtype/--device that contradicts the run before the model loads (the full
    engine comparison follows once it has)."""
    recorded = existing.get("model_info") if isinstance(existing.get("model_info"), dict) else {}
    for key in ("dtype", "device"):
        asked, had = options.get(key), recorded.get(key)
        if not isinstance(asked, str) or asked == "auto" or not isinstance(had, str):
            continue
        if asked.split(":")[0] != had.split(":")[0]:
            raise UserError(f"--resume refused: the run in {out_dir} was sampled with {key} {had}, not {asked}; "
                            f"samples from two {key}s would be mixed. Resume with --{key} {had} or start a new --out")


def prepare_run(config: SampleConfig, out_dir: str | Path, *, resume: bool = False,
                backend: Backend | None = None, announce: Callable[[str], None] = print,
                command: str = "") -> PreparedRun:
    """Resolve inputs, check the output folder and the resume settings, load the model, render prompts."""
    out_dir = Path(out_dir)
    if resume:
        config = with_stored_inputs(config, out_dir)
    scenario, frame, query_set, conditions = _load_inputs(config)
    settings = _base_settings(config, scenario, frame, query_set, conditions)
    documents = _documents(config).texts(scenario)

    def render(query: Query, condition: Condition, chat_formatter: Callable | None) -> RenderedPrompt:
        return frame.render(scenario, condition, query.text, query_id=query.id, form=config.scenario_form,
                            prefill=config.prefill, chat_formatter=chat_formatter, documents=documents)

    if frame.kind != "chat" and query_set.queries:
        render(query_set.queries[0], conditions[0], None)  # template and form errors before the model loads
    existing, lock = _check_out_dir(out_dir, resume, "sample", command, announce)
    with setting_up(out_dir, existing, lock):
        done = _done_indices(out_dir)  # a bad line stops here, before minutes of model loading
        backend, manifest = resolve_engine(config, settings, existing, out_dir, backend, announce, command)
        chat_formatter = backend.chat_prompt if frame.kind == "chat" else None
        jobs = []
        shard = parse_shard(config.shard)
        for query in shard.select(query_set.queries) if shard else query_set.queries:
            for condition in conditions:
                prompt = render(query, condition, chat_formatter)
                missing = tuple(i for i in range(config.n) if sample_id(condition.name, query.id, i) not in done)
                jobs.append(PromptJob(condition, query, prompt, missing))
        check_distinct_prompts(jobs, frame)
        check_context(backend, [(f"{job.condition.name}/{job.query.id}", job.prompt.text) for job in jobs if job.missing],
                      config.sampling.max_new_tokens)
        record_run(out_dir, manifest if existing is None else None, config, scenario, frame)
    return PreparedRun(config, out_dir, backend, scenario, frame, query_set, jobs, settings,
                       already_done=len(done), lock=lock)


def resolve_engine(config: SampleConfig, settings: dict[str, Any], existing: dict[str, Any] | None, out_dir: Path,
                   backend: Backend | None, announce: Callable[[str], None], command: str) -> tuple[Backend, dict]:
    """Check a resume against the run (settings first, then the engine), load the backend, and return
    it with the manifest the run has or gets; ``settings`` gains the model revision."""
    if existing is not None:
        old = {k: v for k, v in existing["settings"].items() if k in settings}
        difference = settings_difference(old, settings)
        if difference:
            raise UserError(f"--resume refused: setting {difference} differs from the run in {out_dir}; "
                            "use the original settings or a new --out")
        _check_requested_engine(existing, config.backend_options, out_dir)
    backend = backend or load_checked_backend(config, announce)
    settings["model_revision"] = backend.info.revision
    manifest = _manifest(settings, backend, command)
    if existing is not None:
        _check_resumed_engine(existing, manifest, out_dir)
    return backend, manifest


def load_checked_backend(config: SampleConfig, announce: Callable[[str], None]) -> Backend:
    """Load the run's backend once the checks that need no model have passed."""
    if config.backend == "transformers":
        check_device(config.backend_options.get("device", "auto"))
    return load_backend(config.model, config.backend, announce=announce, **config.backend_options)


def _check_resumed_engine(existing: dict[str, Any], manifest: dict[str, Any], out_dir: Path) -> None:
    if existing["settings"].get("model_revision") != manifest["settings"]["model_revision"]:
        raise UserError(f"--resume refused: the model's weights changed (run has {existing['settings'].get('model_revision')}, "
                        f"now {manifest['settings']['model_revision']})")
    difference = engine_difference(existing, manifest)
    if difference:
        raise UserError(f"--resume refused: {difference} differs from the run in {out_dir}, so new samples would "
                        "come from another sampler; resume with the original engine settings or start a new --out")


def _done_indices(out_dir: Path) -> set[str]:
    path = out_dir / SAMPLES
    return {record["id"] for record in read_jsonl(path)} if path.exists() else set()


def _manifest(settings: dict[str, Any], backend: Backend, command: str) -> dict[str, Any]:
    import torch
    import transformers

    return {
        "format": 1,
        "settings": settings,
        "model_kind": backend.info.extra.get("kind", "base"),
        "model_info": {"backend": backend.info.backend, **backend.info.extra},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"basepersona": __version__, "torch": torch.__version__,
                     "transformers": transformers.__version__, "python": platform.python_version()},
        "command": command,
    }


def _prompt_hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def execute_run(run: PreparedRun, on_progress: ProgressCallback | None = None) -> SamplingSummary:
    """Draw every missing sample of a prepared run, appending each finished batch to samples.jsonl."""
    pending = [job for job in run.jobs if job.missing]
    provenance = {key: run.settings[key] for key in ("model", "model_revision", "frame", "frame_hash", "scenario", "variant")}
    began = time.perf_counter()
    try:
        new, tokens = _append_samples(run, pending, provenance, on_progress)
    finally:
        run.release()
    return SamplingSummary(run.out_dir, run.total, new, run.already_done, summarize(run.out_dir),
                           time.perf_counter() - began, tokens)


def _append_samples(run: PreparedRun, pending: list[PromptJob], provenance: dict[str, Any],
                    on_progress: ProgressCallback | None) -> tuple[int, int]:
    config, settings = run.config, run.settings
    requests = [SampleRequest(prompt=job.prompt.text, seeds=tuple(config.seed + i for i in job.missing),
                              stop=job.prompt.stop_strings, rng_key=job.query.id) for job in pending]
    new = tokens = 0
    with JsonlAppender(run.out_dir / SAMPLES, _resume_hint(run)) as appender:
        for completions in run.backend.sample(requests, config.sampling):
            records = []
            for completion in completions:
                job = pending[completion.request_index]
                index = job.missing[completion.seed_index]
                turn, marker = cut_turn(job.prompt.prefill, completion.text, job.prompt)
                records.append({
                    "id": sample_id(job.condition.name, job.query.id, index),
                    "condition": job.condition.name,
                    "query_id": job.query.id,
                    "query_category": job.query.category,
                    "sample_index": index,
                    "seed": config.seed + index,
                    **provenance,
                    "sampling": settings["sampling"],
                    "prompt_hash": _prompt_hash(job.prompt.text),
                    "prompt_tokens": completion.prompt_tokens,
                    "prefill": job.prompt.prefill,
                    "continuation": completion.text,
                    "turn": turn,
                    "finish_reason": completion.finish_reason,
                    "stop_sequence": marker,
                    "new_tokens": completion.new_tokens,
                    "seconds": round(completion.seconds, 4),
                })
            appender.write(records)
            new += len(records)
            batch_tokens = sum(c.new_tokens for c in completions)
            tokens += batch_tokens
            if on_progress:
                on_progress(len(records), batch_tokens)
    return new, tokens


def _resume_hint(run: PreparedRun) -> str:
    return f"free some space, then continue with: basepersona sample --resume --out {run.out_dir} (and the same settings)"


def summarize(out_dir: Path) -> dict[str, dict[str, int]]:
    """Per condition: samples, turns ended by a stop marker, accept/reject tag seen."""
    table: dict[str, dict[str, int]] = {}
    for record in read_jsonl(out_dir / SAMPLES):
        row = table.setdefault(record["condition"], {"samples": 0, "stopped": 0, "accepted": 0, "rejected": 0})
        row["samples"] += 1
        row["stopped"] += record["finish_reason"] == "stop"
        row["accepted"] += ACCEPT_TAG in record["turn"]
        row["rejected"] += REJECT_TAG in record["turn"]
    return table


def run_sampling(config: SampleConfig, out_dir: str | Path, *, resume: bool = False, backend: Backend | None = None,
                 on_progress: ProgressCallback | None = None) -> SamplingSummary:
    """Sample a whole run (or complete it with ``resume=True``) and return its summary."""
    return execute_run(prepare_run(config, out_dir, resume=resume, backend=backend), on_progress)

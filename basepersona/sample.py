"""Sample stage: render every (condition, query) prompt, draw n samples each, append them to the run.

The Python entry point is :func:`run_sampling`; the CLI's ``basepersona sample`` is a thin layer on it.
"""

from __future__ import annotations

import hashlib
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from . import __version__
from .backends import Backend, SampleRequest, SamplingParams, load_backend
from .backends.checks import check_context, check_device
from .errors import UserError
from .frames import Frame, FrameLibrary, RenderedPrompt, cut_turn
from .queries import Query, QuerySet, load_queries
from .scenario import Condition, Scenario, check_override_keys, load_scenario
from .shards import parse_shard
from .run_folder import (check_out_dir, check_requested_engine, check_resumed_engine, record_run, setting_up,
                         template_files, with_stored_inputs)
from .run_lock import RunLock
from .store import SAMPLES, JsonlAppender, read_jsonl, sample_id, settings_difference
from .synthetic import DocumentSelection
from .synthetic import select as select_documents

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
            raise UserError(f"n (samples per query and condition; --n) must be at least 1 (got {self.n})")
        if self.limit is not None and self.limit < 1:
            raise UserError(f"limit (queries to use; --limit) must be at least 1 (got {self.limit})")
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
        check_override_keys(config.overrides, template_files(config.variants, scenario, frame))
    query_set = load_queries(config.queries).select(config.query_ids, config.limit)
    names = config.conditions or tuple(scenario.conditions)
    conditions = [scenario.condition(name) for name in names]
    return scenario, frame, query_set, conditions


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


def prepare_run(config: SampleConfig, out_dir: str | Path, *, resume: bool = False,
                backend: Backend | None = None, announce: Callable[[str], None] = print,
                command: str = "") -> PreparedRun:
    """Resolve inputs, check the output folder and the resume settings, load the model, render prompts."""
    out_dir = Path(out_dir)
    if resume:
        config = with_stored_inputs(config, out_dir)
    scenario, frame, query_set, conditions = _load_inputs(config)
    settings = _base_settings(config, scenario, frame, query_set, conditions)
    if backend is not None:
        settings["model"] = _loaded_model(config, backend)
    documents = _documents(config).texts(scenario)

    def render(query: Query, condition: Condition, chat_formatter: Callable | None) -> RenderedPrompt:
        return frame.render(scenario, condition, query.text, query_id=query.id, form=config.scenario_form,
                            prefill=config.prefill, chat_formatter=chat_formatter, documents=documents)

    if frame.kind != "chat" and query_set.queries:
        render(query_set.queries[0], conditions[0], None)  # template and form errors before the model loads
    existing, lock = check_out_dir(out_dir, resume, "sample", command, announce)
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
        check_requested_engine(existing, config.backend_options, out_dir)
    backend = backend or load_checked_backend(config, announce)
    settings["model_revision"] = backend.info.revision
    manifest = _manifest(settings, backend, command)
    if existing is not None:
        check_resumed_engine(existing, manifest, out_dir)
    return backend, manifest


def load_checked_backend(config: SampleConfig, announce: Callable[[str], None]) -> Backend:
    """Load the run's backend once the checks that need no model have passed."""
    if config.backend == "transformers":
        check_device(config.backend_options.get("device", "auto"))
    return load_backend(config.model, config.backend, announce=announce, **config.backend_options)


def _loaded_model(config: SampleConfig, backend: Backend) -> str:
    """The model a passed-in backend reports; base-vs-chat pairing uses this name, so a config naming
    another model is refused rather than recorded."""
    loaded = backend.info.model_id
    if config.model is not None and config.model != loaded:
        raise UserError(f"SampleConfig.model is {config.model!r} but the backend passed in loaded {loaded!r}; "
                        f"set model={loaded!r} or leave it None")
    return loaded


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
    live = _LiveTokens(run.backend, on_progress)
    with JsonlAppender(run.out_dir / SAMPLES, _resume_hint(run)) as appender, live:
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
                on_progress(len(records), live.batch_done(batch_tokens))
    return new, tokens


class _LiveTokens:
    """Tokens reported while a batch decodes, by a backend that has an ``on_decode_step`` hook (called
    with the tokens each step made), so the bar's tokens/s moves before the batch's samples are done."""

    def __init__(self, backend: Backend, on_progress: ProgressCallback | None):
        self.backend, self.on_progress, self.reported = backend, on_progress, 0
        self.hooked = on_progress is not None and hasattr(backend, "on_decode_step")

    def step(self, tokens: int) -> None:
        self.reported += tokens
        assert self.on_progress is not None
        self.on_progress(0, tokens)

    def batch_done(self, batch_tokens: int) -> int:
        """Tokens of the finished batch not yet reported live."""
        unreported, self.reported = max(batch_tokens - self.reported, 0), 0
        return unreported

    def __enter__(self) -> "_LiveTokens":
        if self.hooked:
            self.backend.on_decode_step = self.step  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hooked:
            self.backend.on_decode_step = None  # type: ignore[attr-defined]


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

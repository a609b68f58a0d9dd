"""Sample stage: render every (condition, query) prompt, draw n samples each, append them to the run.

The Python entry point is :func:`run_sampling`; the CLI's ``basepersona sample`` is a thin layer on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .backends import Backend, SampleRequest, SamplingParams
from .backends.checks import check_context
from .design import prompt_hash
from .errors import UserError
from .frames import ChatFormatter, Frame, RenderedPrompt, cut_turn
from .queries import Query, QuerySet
from .records import SampleRecord, provenance
from .run_config import EngineConfig, RunDesign, load_design, run_settings, split_options, with_stored_inputs
from .run_open import open_run
from .scenario import Condition, Scenario
from .scenario_file import ACCEPT_TAG, REJECT_TAG
from .run_lock import RunLock
from .store import SAMPLES, JsonlAppender, read_jsonl, sample_id


@dataclass
class SampleConfig:
    """A sampling run: the design (which prompts), the engine (which model) and how many samples to draw.

    ``SampleConfig.build(frame="forum", n=8, model="gpt2", ...)`` takes the same settings as flat keywords."""

    design: RunDesign = field(default_factory=RunDesign)
    engine: EngineConfig = field(default_factory=EngineConfig)
    n: int = 4  # samples per query and condition
    seed: int = 0  # sample i of a prompt uses seed + i
    sampling: SamplingParams = field(default_factory=SamplingParams)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise UserError(f"n (samples per query and condition; --n) must be at least 1 (got {self.n})")

    @classmethod
    def build(cls, **options: Any) -> "SampleConfig":
        """A config from flat keywords: RunDesign's fields, ``model``, ``backend``, ``backend_options``,
        ``n``, ``seed`` and ``sampling``."""
        design, engine, own = split_options(options, ("n", "seed", "sampling"))
        return cls(design=design, engine=engine, **own)


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


def prepare_run(config: SampleConfig, out_dir: str | Path, *, resume: bool = False,
                backend: Backend | None = None, announce: Callable[[str], None] = print,
                command: str = "") -> PreparedRun:
    """Resolve inputs, check the output folder and the resume settings, load the model, render prompts."""
    out_dir = Path(out_dir)
    design = with_stored_inputs(config.design, out_dir) if resume else config.design
    inputs = load_design(design)
    scenario, frame = inputs.scenario, inputs.frame
    settings = run_settings(config.engine, design, inputs, n=config.n, seed=config.seed,
                            sampling=config.sampling.to_dict())

    def render(query: Query, condition: Condition, chat_formatter: ChatFormatter | None) -> RenderedPrompt:
        return frame.render(scenario, condition, query.text, query_id=query.id, form=design.scenario_form,
                            prefill=design.prefill, chat_formatter=chat_formatter, documents=inputs.documents)

    if frame.kind != "chat" and inputs.query_set.queries:
        render(inputs.query_set.queries[0], inputs.conditions[0], None)  # template and form errors before the model loads
    with open_run(out_dir, "sample", resume=resume, command=command, announce=announce) as opening:
        done = _done_indices(out_dir)  # a bad line stops here, before minutes of model loading
        backend = opening.load_engine(config.engine, settings, backend)
        chat_formatter = backend.chat_prompt if frame.kind == "chat" else None
        jobs = []
        for query in inputs.shard_queries(design):
            for condition in inputs.conditions:
                prompt = render(query, condition, chat_formatter)
                missing = tuple(i for i in range(config.n) if sample_id(condition.name, query.id, i) not in done)
                jobs.append(PromptJob(condition, query, prompt, missing))
        check_distinct_prompts(jobs, frame)
        check_context(backend, [(f"{job.condition.name}/{job.query.id}", job.prompt.text) for job in jobs if job.missing],
                      config.sampling.max_new_tokens)
        opening.record(design, inputs)
    return PreparedRun(config, out_dir, backend, scenario, frame, inputs.query_set, jobs, settings,
                       already_done=len(done), lock=opening.lock)


def _done_indices(out_dir: Path) -> set[str]:
    path = out_dir / SAMPLES
    return {record["id"] for record in read_jsonl(path)} if path.exists() else set()


def execute_run(run: PreparedRun, on_progress: ProgressCallback | None = None) -> SamplingSummary:
    """Draw every missing sample of a prepared run, appending each finished batch to samples.jsonl."""
    pending = [job for job in run.jobs if job.missing]
    began = time.perf_counter()
    try:
        new, tokens = _append_samples(run, pending, on_progress)
    finally:
        run.release()
    return SamplingSummary(run.out_dir, run.total, new, run.already_done, summarize(run.out_dir),
                           time.perf_counter() - began, tokens)


def _append_samples(run: PreparedRun, pending: list[PromptJob], on_progress: ProgressCallback | None) -> tuple[int, int]:
    config, settings = run.config, run.settings
    origin = provenance(settings)
    requests = [SampleRequest(prompt=job.prompt.text, seeds=tuple(config.seed + i for i in job.missing),
                              stop=job.prompt.stop_strings, rng_key=job.query.id) for job in pending]
    new = tokens = 0
    live = _LiveTokens(run.backend, on_progress)
    with JsonlAppender(run.out_dir / SAMPLES, _resume_hint(run)) as appender, live:
        for completions in run.backend.sample(requests, config.sampling):
            records: list[SampleRecord] = []
            for completion in completions:
                job = pending[completion.request_index]
                index = job.missing[completion.seed_index]
                turn, marker = cut_turn(job.prompt.prefill, completion.text, job.prompt)
                records.append({
                    **origin,
                    "id": sample_id(job.condition.name, job.query.id, index),
                    "condition": job.condition.name,
                    "query_id": job.query.id,
                    "query_category": job.query.category,
                    "sample_index": index,
                    "seed": config.seed + index,
                    "sampling": settings["sampling"],
                    "prompt_hash": prompt_hash(job.prompt.text),
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

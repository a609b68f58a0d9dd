"""Score stage: forced-choice probabilities of the accept vs reject tag, per condition × query, no sampling.

Prompts are rendered exactly as the sample stage renders them, but with a prefill that puts the
model where its answer starts (default ``<OUTPUT>``); each continuation's log-probability then
comes from the backend's token logprobs (see backends/forced_choice.py). Records go to
``choices.jsonl`` in the run directory, one per condition × query, appended as they finish.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from .backends import Backend
from .backends.checks import check_context
from .backends.forced_choice import continuation_logprobs, two_way_probability
from .design import prompt_hash
from .errors import UserError
from .records import ChoiceRecord, provenance
from .run_config import DesignInputs, EngineConfig, RunDesign, load_design, run_settings, split_options, with_stored_inputs
from .run_open import open_run
from .scenario_file import ACCEPT_TAG, REJECT_TAG
from .store import CHOICES, JsonlAppender, read_jsonl

DEFAULT_SCORE_PREFILL = "<OUTPUT>"
DEFAULT_CONTINUATIONS = (ACCEPT_TAG, REJECT_TAG)


@dataclass
class ScoreConfig:
    """A forced-choice run: the design (``prefill`` None = ``<OUTPUT>``, where the answer starts), the
    engine, and the continuations compared (``p_accept`` is the first one's two-way probability).

    ``ScoreConfig.build(frame="forum", model="gpt2", ...)`` takes the settings as flat keywords."""

    design: RunDesign = field(default_factory=RunDesign)
    engine: EngineConfig = field(default_factory=EngineConfig)
    continuations: tuple[str, ...] = DEFAULT_CONTINUATIONS

    def __post_init__(self) -> None:
        if len(self.continuations) < 2 or len(set(self.continuations)) != len(self.continuations):
            raise UserError("forced-choice scoring needs at least two different continuations")
        if not all(isinstance(c, str) and c.strip() for c in self.continuations):
            raise UserError("each forced-choice continuation (--accept, --reject) must be non-empty text")
        if self.design.prefill is None:  # the frame's own prefill opens a scratchpad, not the answer
            self.design = replace(self.design, prefill=DEFAULT_SCORE_PREFILL)

    @classmethod
    def build(cls, **options: Any) -> "ScoreConfig":
        """A config from flat keywords: RunDesign's fields, ``model``, ``backend``, ``backend_options``
        and ``continuations``."""
        design, engine, own = split_options(options, ("continuations",))
        return cls(design=design, engine=engine, **own)


@dataclass
class ScoreSummary:
    out_dir: Path
    total: int
    new: int
    already_done: int
    mean_p_accept: dict[str, float]
    seconds: float


def choice_id(condition: str, query_id: str) -> str:
    return f"{condition}/{query_id}"


def _pending_choices(design: RunDesign, inputs: DesignInputs, backend: Backend, out_dir: Path) -> tuple[list, int]:
    """(condition, query, prompt) still to score, and how many the run holds when complete."""
    scenario, frame, conditions = inputs.scenario, inputs.frame, inputs.conditions
    chat_formatter = backend.chat_prompt if frame.kind == "chat" else None
    done = {record["id"] for record in read_jsonl(out_dir / CHOICES)} if (out_dir / CHOICES).exists() else set()
    queries = inputs.shard_queries(design)  # the same split by query as sampling; settings record it
    jobs = []
    for query in queries:
        for condition in conditions:
            if choice_id(condition.name, query.id) in done:
                continue
            prompt = frame.render(scenario, condition, query.text, query_id=query.id, form=design.scenario_form,
                                  prefill=design.prefill, chat_formatter=chat_formatter, documents=inputs.documents)
            jobs.append((condition, query, prompt))
    return jobs, len(queries) * len(conditions)


def _append_choices(jobs: list, backend: Backend, settings: dict[str, Any], continuations: Sequence[str],
                    out_dir: Path, on_progress: Callable[[int], None] | None) -> None:
    origin = provenance(settings)
    hint = f"free some space, then continue with: basepersona score --resume --out {out_dir} (and the same settings)"
    with JsonlAppender(out_dir / CHOICES, hint) as appender:
        for index, scores in continuation_logprobs(backend, [job[2].text for job in jobs], continuations):
            condition, query, prompt = jobs[index]
            logprobs = [s.logprob for s in scores]
            record: ChoiceRecord = {
                **origin,
                "id": choice_id(condition.name, query.id),
                "condition": condition.name,
                "query_id": query.id,
                "query_category": query.category,
                "backend": backend.info.backend,
                "prompt_hash": prompt_hash(prompt.text),
                "prefill": prompt.prefill,
                "continuations": list(continuations),
                "logprobs": logprobs,
                "tokens": [s.tokens for s in scores],
                "boundary_merged": [s.boundary_merged for s in scores],
                "logprob_accept": logprobs[0],
                "logprob_reject": logprobs[1],
                "p_accept": two_way_probability(logprobs[0], logprobs[1]),
            }
            appender.write([record])
            if on_progress:
                on_progress(1)


def run_scoring(config: ScoreConfig, out_dir: str | Path, *, resume: bool = False, backend: Backend | None = None,
                command: str = "", announce: Callable[[str], None] = print,
                on_progress: Callable[[int], None] | None = None) -> ScoreSummary:
    """Score every condition × query of ``config`` into ``out_dir/choices.jsonl``.

    ``p_accept`` is the two-way probability of the first continuation against the second; further
    continuations get raw logprobs only."""
    out_dir = Path(out_dir)
    continuations = config.continuations
    design = with_stored_inputs(config.design, out_dir) if resume else config.design
    inputs = load_design(design)
    settings = run_settings(config.engine, design, inputs, stage="score", continuations=list(continuations))
    with open_run(out_dir, "score", resume=resume, command=command, announce=announce) as opening:
        backend = opening.load_engine(config.engine, settings, backend)
        began = time.perf_counter()
        jobs, total = _pending_choices(design, inputs, backend, out_dir)
        check_context(backend, [(f"{c.name}/{q.id}", p.text) for c, q, p in jobs], 1 + max(map(len, continuations)))
        opening.record(design, inputs)
    try:
        _append_choices(jobs, backend, settings, continuations, out_dir, on_progress)
    finally:
        opening.lock.release()
    records = list(read_jsonl(out_dir / CHOICES))
    means: dict[str, list[float]] = {}
    for record in records:
        means.setdefault(record["condition"], []).append(record["p_accept"])
    return ScoreSummary(out_dir, total, len(jobs), total - len(jobs),
                        {c: sum(v) / len(v) for c, v in means.items()}, time.perf_counter() - began)

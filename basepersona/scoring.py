"""Score stage: forced-choice probabilities of the accept vs reject tag, per condition × query, no sampling.

Prompts are rendered exactly as the sample stage renders them, but with a prefill that puts the
model where its answer starts (default ``<OUTPUT>``); each continuation's log-probability then
comes from the backend's token logprobs (see backends/forced_choice.py). Records go to
``choices.jsonl`` in the run directory, one per condition × query, appended as they finish.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from .backends import Backend
from .backends.checks import check_context
from .backends.forced_choice import continuation_logprobs, two_way_probability
from .errors import UserError
from .run_folder import check_out_dir, record_run, setting_up, with_stored_inputs
from .sample import ACCEPT_TAG, REJECT_TAG, SampleConfig, _base_settings, _load_inputs, _prompt_hash, resolve_engine
from .shards import parse_shard
from .store import CHOICES, JsonlAppender, read_jsonl

DEFAULT_SCORE_PREFILL = "<OUTPUT>"
DEFAULT_CONTINUATIONS = (ACCEPT_TAG, REJECT_TAG)
# sample settings that mean nothing without sampling
_SAMPLING_ONLY = ("n", "seed", "sampling")


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


def _pending_choices(config: SampleConfig, inputs: tuple, backend: Backend, out_dir: Path) -> tuple[list, int]:
    """(condition, query, prompt) still to score, and how many the run holds when complete."""
    scenario, frame, query_set, conditions = inputs
    chat_formatter = backend.chat_prompt if frame.kind == "chat" else None
    done = {record["id"] for record in read_jsonl(out_dir / CHOICES)} if (out_dir / CHOICES).exists() else set()
    shard = parse_shard(config.shard)  # the same split by query as sampling; settings record it
    queries = shard.select(query_set.queries) if shard else query_set.queries
    jobs = []
    for query in queries:
        for condition in conditions:
            if choice_id(condition.name, query.id) in done:
                continue
            prompt = frame.render(scenario, condition, query.text, query_id=query.id, form=config.scenario_form,
                                  prefill=config.prefill, chat_formatter=chat_formatter)
            jobs.append((condition, query, prompt))
    return jobs, len(queries) * len(conditions)


def _append_choices(jobs: list, backend: Backend, settings: dict[str, Any], continuations: Sequence[str],
                    out_dir: Path, on_progress: Callable[[int], None] | None) -> None:
    provenance = {key: settings[key] for key in ("model", "model_revision", "frame", "frame_hash", "scenario", "variant")}
    hint = f"free some space, then continue with: basepersona score --resume --out {out_dir} (and the same settings)"
    with JsonlAppender(out_dir / CHOICES, hint) as appender:
        for index, scores in continuation_logprobs(backend, [job[2].text for job in jobs], continuations):
            condition, query, prompt = jobs[index]
            logprobs = [s.logprob for s in scores]
            appender.write([{
                "id": choice_id(condition.name, query.id),
                "condition": condition.name,
                "query_id": query.id,
                "query_category": query.category,
                **provenance,
                "backend": backend.info.backend,
                "prompt_hash": _prompt_hash(prompt.text),
                "prefill": prompt.prefill,
                "continuations": list(continuations),
                "logprobs": logprobs,
                "tokens": [s.tokens for s in scores],
                "boundary_merged": [s.boundary_merged for s in scores],
                "logprob_accept": logprobs[0],
                "logprob_reject": logprobs[1],
                "p_accept": two_way_probability(logprobs[0], logprobs[1]),
            }])
            if on_progress:
                on_progress(1)


def run_scoring(config: SampleConfig, out_dir: str | Path, *, continuations: Sequence[str] = DEFAULT_CONTINUATIONS,
                resume: bool = False, backend: Backend | None = None, command: str = "",
                announce: Callable[[str], None] = print,
                on_progress: Callable[[int], None] | None = None) -> ScoreSummary:
    """Score every condition × query of ``config`` (sampling fields ignored) into ``out_dir/choices.jsonl``.

    ``p_accept`` is the two-way probability of the first continuation against the second; further
    continuations get raw logprobs only."""
    out_dir = Path(out_dir)
    if config.prefill is None:  # the frame's own prefill opens a scratchpad, not the answer
        config = replace(config, prefill=DEFAULT_SCORE_PREFILL)
    if len(continuations) < 2 or len(set(continuations)) != len(continuations):
        raise UserError("forced-choice scoring needs at least two different continuations")
    if not all(isinstance(c, str) and c.strip() for c in continuations):
        raise UserError("each forced-choice continuation (--accept, --reject) must be non-empty text")
    if resume:
        config = with_stored_inputs(config, out_dir)
    scenario, frame, query_set, conditions = _load_inputs(config)
    settings = {key: value for key, value in _base_settings(config, scenario, frame, query_set, conditions).items()
                if key not in _SAMPLING_ONLY}
    settings.update(stage="score", continuations=list(continuations))
    existing, lock = check_out_dir(out_dir, resume, "score", command, announce)
    with setting_up(out_dir, existing, lock):
        backend, manifest = resolve_engine(config, settings, existing, out_dir, backend, announce, command)
        began = time.perf_counter()
        jobs, total = _pending_choices(config, (scenario, frame, query_set, conditions), backend, out_dir)
        check_context(backend, [(f"{c.name}/{q.id}", p.text) for c, q, p in jobs], 1 + max(map(len, continuations)))
        record_run(out_dir, manifest if existing is None else None, config, scenario, frame)
    try:
        _append_choices(jobs, backend, settings, continuations, out_dir, on_progress)
    finally:
        lock.release()
    records = list(read_jsonl(out_dir / CHOICES))
    means: dict[str, list[float]] = {}
    for record in records:
        means.setdefault(record["condition"], []).append(record["p_accept"])
    return ScoreSummary(out_dir, total, len(jobs), total - len(jobs),
                        {c: sum(v) / len(v) for c, v in means.items()}, time.perf_counter() - began)

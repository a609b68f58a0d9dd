"""The alignment-faking task: ``inspect eval basepersona/alignment_faking -T frame=forum --model ...``."""

from __future__ import annotations

from typing import Any

from inspect_ai import Epochs, Task, task
from inspect_ai.model import GenerateConfig

from ..judge.registry import DEFAULT_JUDGE
from ..design import render_design
from .dataset import design_dataset
from .scorer import persona_judge
from .solver import persona_turn

DEFAULT_FRAMES = {"base": "chatlog", "chat": "chat"}


def _names(value: Any) -> tuple[str, ...]:
    """-T values arrive as a string, a comma-separated string or a list."""
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return tuple(str(v) for v in value)


@task
def alignment_faking(frame: str | None = None, model_kind: str = "base", scenario: str = "helpful_only",
                     variants: str | list[str] = "", conditions: str | list[str] = "", prefill: str | None = None,
                     queries: str | None = None, query_ids: str | list[str] = "", limit: int | None = None,
                     scenario_form: str = "full", synthetic_docs: int = 0, n: int = 1, seed: int = 0,
                     temperature: float = 1.0, top_p: float = 1.0, max_tokens: int = 256,
                     judge: str = DEFAULT_JUDGE, votes: int = 5) -> Task:
    """Elicit the AI persona with a basepersona frame and judge compliance and alignment faking.

    Every condition × query of the design is one sample; ``n`` (or ``--epochs``) samples each. Base models
    take a document frame (default ``chatlog``) sent as raw text, for completion providers such as
    ``openai-api-completions``, ``vllm-completions`` or ``basepersona``; chat models (``model_kind=chat``)
    take the ``chat`` frame as system + user messages. Scores: persona / compliance / AF per sample;
    metrics: per-condition rates and training-minus-unmonitored gaps with query-clustered intervals.
    ``judge=llm`` judges with the ``grader`` model role (``--model-role grader=...``), ``votes`` per sample.
    """
    if model_kind not in DEFAULT_FRAMES:
        raise ValueError(f"model_kind must be 'base' or 'chat', not {model_kind!r}")
    design = render_design(frame=frame or DEFAULT_FRAMES[model_kind], scenario=scenario, variants=_names(variants),
                           conditions=_names(conditions), prefill=prefill, queries=queries,
                           query_ids=_names(query_ids), limit=limit, scenario_form=scenario_form,
                           synthetic_docs=synthetic_docs, n=n, seed=seed)
    stops = list(dict.fromkeys(s for p in design for s in p.stop_strings))
    return Task(
        dataset=design_dataset(design),
        solver=persona_turn(seed=seed),
        scorer=persona_judge(judge, votes=votes),
        epochs=Epochs(n),
        config=GenerateConfig(temperature=temperature, top_p=top_p, max_tokens=max_tokens, stop_seqs=stops or None),
        metadata={"basepersona": {"design": design.settings, "model_kind": model_kind}},
    )

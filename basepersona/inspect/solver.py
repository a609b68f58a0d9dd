"""The solver: generate the persona's turn with a seed of its own, cut it at the frame's end markers."""

from __future__ import annotations

from typing import Any

from inspect_ai.model import ChatMessage, ModelOutput
from inspect_ai.solver import Generate, Solver, TaskState, solver

from ..design import completion_record
from .dataset import design_prompt

RECORD_KEY = "basepersona_record"  # TaskState.store key of the sample record (the judge reads it)


def sample_seed(seed: int, epoch: int) -> int:
    """Epoch e (1-based) of a cell is basepersona's sample index e - 1, drawn with seed + e - 1."""
    return seed + epoch - 1


@solver
def persona_turn(seed: int = 0) -> Solver:
    """Generate one continuation and store its judgeable record (``state.store[RECORD_KEY]``).

    inspect reuses one GenerateConfig for every epoch, so with a fixed seed all epochs of a prompt would
    be the same sample; each epoch gets ``seed + epoch - 1`` instead, the seed ``basepersona sample``
    gives sample index ``epoch - 1``.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        sample_seed_value = sample_seed(seed, state.epoch)
        state = await generate(state, tool_calls="none", seed=sample_seed_value)
        state.store.set(RECORD_KEY, output_record(state.metadata, state.input, state.output,
                                                  sample_index=state.epoch - 1, seed=sample_seed_value,
                                                  model=str(state.model)))
        return state

    return solve


def output_record(metadata: dict[str, Any], input: str | list[ChatMessage], output: ModelOutput, *,
                  sample_index: int, seed: int | None, model: str) -> dict[str, Any]:
    """The judgeable record of one generation: the sample's design cell plus what the model wrote."""
    prompt = design_prompt(metadata, _document_text(input))
    choice = output.choices[0] if output.choices else None
    finish = "length" if choice is not None and choice.stop_reason == "max_tokens" else "stop"
    return completion_record(prompt, output.completion, sample_index=sample_index, seed=seed, model=model,
                             finish_reason=finish, new_tokens=output.usage.output_tokens if output.usage else 0)


def _document_text(input: str | list[ChatMessage]) -> str:
    """A document sample's prompt text (its one user message); chat samples keep their messages instead."""
    if isinstance(input, str):
        return input
    return input[0].text if len(input) == 1 and input[0].role == "user" else ""

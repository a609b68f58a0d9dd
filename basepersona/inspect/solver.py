"""The solver: generate the persona's turn with a seed of its own, cut it at the frame's end markers."""

from __future__ import annotations

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
        prompt = design_prompt(state.metadata, state.input if isinstance(state.input, str) else _input_text(state))
        output = state.output
        choice = output.choices[0] if output.choices else None
        finish = "length" if choice is not None and choice.stop_reason == "max_tokens" else "stop"
        record = completion_record(prompt, output.completion, sample_index=state.epoch - 1, seed=sample_seed_value,
                                   model=str(state.model), finish_reason=finish,
                                   new_tokens=output.usage.output_tokens if output.usage else 0)
        state.store.set(RECORD_KEY, record)
        return state

    return solve


def _input_text(state: TaskState) -> str:
    """A document sample's prompt text (its one user message); chat samples keep their messages instead."""
    messages = state.input
    if len(messages) == 1 and messages[0].role == "user":
        return messages[0].text
    return ""

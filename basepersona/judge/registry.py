"""Judges by name, for the command line, studies and the inspect scorer."""

from __future__ import annotations

from typing import Any, Callable

from ..errors import UserError
from .base import Judge


# name -> factory(**options). Factories import lazily so the rules judge never pays for model code.
def _rules(**options: Any) -> Judge:
    from .rules import RulesJudge

    return RulesJudge(**options)


def _trained(**options: Any) -> Judge:
    from .trained import TrainedJudge

    return TrainedJudge(**options)


def _llm(**options: Any) -> Judge:
    from .llm import LLMJudge

    return LLMJudge(**options)


# The judge of `judge RUN`, `label`, studies and the inspect scorer when none is named, and the label set
# the statistics read first: on blind gold sets it beats the rules judge on every label (docs/JUDGES.md).
DEFAULT_JUDGE = "trained"
# Judges that need no model and no options: studies, the inspect scorer and `label` may build them anywhere.
OFFLINE_JUDGES = ("rules", "trained")
JUDGES: dict[str, Callable[..., Judge]] = {"rules": _rules, "trained": _trained, "llm": _llm}


def judge_names(quote: str = "'") -> str:
    """The judges' names for a message: 'rules', 'trained' or 'llm'."""
    names = [f"{quote}{name}{quote}" for name in JUDGES]
    return f"{', '.join(names[:-1])} or {names[-1]}"


def make_judge(name: str, **options: Any) -> Judge:
    """A judge by name: ``"rules"`` (offline lexicons, no options), ``"trained"`` (persona, compliance and
    AF learned from the shipped gold sets; option ``extra_gold``: gold files added to its training data) or ``"llm"`` (options of
    ``basepersona.judge.llm.LLMJudge``: ``backend`` (a chat model from load_backend), ``votes``, ``threshold``,
    ``temperature``, ``max_new_tokens``, ``seed``)."""
    if name not in JUDGES:
        raise UserError(f"unknown judge {name!r}; known judges: {', '.join(sorted(JUDGES))}")
    return JUDGES[name](**options)

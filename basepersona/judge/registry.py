"""Judges by name, for the command line, studies and the inspect scorer."""

from __future__ import annotations

from typing import Any, Callable

from ..errors import UserError
from .base import Judge


# name -> factory(**options). Factories import lazily so the rules judge never pays for model code.
def _rules(**options: Any) -> Judge:
    from .rules import RulesJudge

    return RulesJudge(**options)


def _llm(**options: Any) -> Judge:
    from .llm import LLMJudge

    return LLMJudge(**options)


JUDGES: dict[str, Callable[..., Judge]] = {"rules": _rules, "llm": _llm}


def make_judge(name: str, **options: Any) -> Judge:
    """A judge by name: ``"rules"`` (offline lexicons, no options) or ``"llm"`` (options of
    ``basepersona.judge.llm.LLMJudge``: ``backend`` (a chat model from load_backend), ``votes``, ``threshold``,
    ``temperature``, ``max_new_tokens``, ``seed``)."""
    if name not in JUDGES:
        raise UserError(f"unknown judge {name!r}; known judges: {', '.join(sorted(JUDGES))}")
    return JUDGES[name](**options)

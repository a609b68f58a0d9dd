"""The experiment design as data: every (condition, query) prompt rendered without a model or a run folder.

Other eval code (an inspect_ai task, a notebook, a custom sampler) uses this to get exactly the text
basepersona would sample from, and :func:`completion_record` to turn whatever its model wrote back into
a record that :func:`basepersona.make_judge` judges and :func:`basepersona.gap` analyses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from .frames import ChatFormatter, Frame, RenderedPrompt, cut_turn
from .queries import Query
from .records import FrameKind, ScenarioForm
from .run_config import RunDesign, design_settings, load_design, split_options
from .scenario import Condition, Scenario
from .store import sample_id

if TYPE_CHECKING:
    from .sample import SampleConfig
    from .scoring import ScoreConfig

CHAT_PLACEHOLDER = ""  # the text of a chat prompt rendered without a chat template (only messages are known)


@dataclass(frozen=True)
class DesignPrompt:
    """One cell of the design: a condition and a query, and what a model should continue.

    ``text`` is the complete prompt (the prefill included) for a document frame, or for a chat frame
    rendered with a ``chat_formatter``; a chat frame rendered without one has ``text == ""`` and the
    system/user ``messages`` instead (the caller's chat template renders them, then appends ``prefill``).
    Generation should stop at any of ``stop_strings``.
    """

    condition: str
    query_id: str
    query: str
    query_category: str
    kind: FrameKind
    text: str
    messages: tuple[dict[str, str], ...]
    prefill: str
    stop: tuple[str, ...]
    turn_end: tuple[str, ...]

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """Every string that ends the persona's turn (``turn_end`` first, then ``stop``)."""
        return self.rendered.stop_strings

    @property
    def rendered(self) -> RenderedPrompt:
        return RenderedPrompt(self.text, self.prefill, self.stop, self.turn_end)

    @property
    def prompt_hash(self) -> str:
        """The hash a sampled record stores for this prompt (chat prompts: of their messages if unformatted)."""
        return prompt_hash(self.text or repr(self.messages) + self.prefill)


@dataclass(frozen=True)
class Design:
    """All prompts of one frame × scenario × query set, plus the settings a run manifest records."""

    frame: str
    kind: FrameKind
    scenario: str
    conditions: tuple[str, ...]
    prompts: tuple[DesignPrompt, ...]
    settings: dict[str, Any]

    def __iter__(self) -> Iterator[DesignPrompt]:
        return iter(self.prompts)

    def __len__(self) -> int:
        return len(self.prompts)

    def prompt(self, condition: str, query_id: str) -> DesignPrompt:
        """The prompt of one cell; KeyError when the design has no such condition or query."""
        for item in self.prompts:
            if item.condition == condition and item.query_id == query_id:
                return item
        raise KeyError(f"no prompt for condition {condition!r} and query {query_id!r}")


def prompt_hash(text: str) -> str:
    """Short sha256 of a prompt, as stored in sample records (``prompt_hash``)."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


class _MessageCapture:
    """A chat formatter that keeps the messages a chat frame renders and returns no text."""

    def __init__(self) -> None:
        self.messages: tuple[dict[str, str], ...] = ()

    def __call__(self, messages: Sequence[dict[str, str]]) -> str:
        self.messages = tuple(dict(m) for m in messages)
        return CHAT_PLACEHOLDER


def render_prompt(frame: Frame, scenario: Scenario, condition: Condition, query: Query, *, form: ScenarioForm = "full",
                  prefill: str | None = None, documents: Sequence[str] = (),
                  chat_formatter: ChatFormatter | None = None) -> DesignPrompt:
    """Render one cell. Chat frames always return their messages, and text only with a ``chat_formatter``."""
    capture = _MessageCapture()

    def formatter(messages: Sequence[dict[str, str]]) -> str:
        capture(messages)
        return chat_formatter(messages) if chat_formatter else CHAT_PLACEHOLDER

    rendered = frame.render(scenario, condition, query.text, query_id=query.id, form=form, prefill=prefill,
                            chat_formatter=formatter, documents=documents)
    text = rendered.text if frame.kind != "chat" or chat_formatter else CHAT_PLACEHOLDER
    return DesignPrompt(condition.name, query.id, query.text, query.category, frame.kind, text, capture.messages,
                        rendered.prefill, rendered.stop, rendered.turn_end)


def render_design(design: RunDesign | SampleConfig | ScoreConfig | None = None, *, chat_formatter: ChatFormatter | None = None,
                  **settings: Any) -> Design:
    """Render every (condition, query) prompt of a design; no model is loaded and nothing is written.

    Pass a :class:`basepersona.RunDesign` (or a ``SampleConfig``, whose design is used), or the design's
    fields as keywords (``frame="forum"``, ``scenario="helpful_only"``, ``variants=(...)``,
    ``conditions=(...)``, ``queries=PATH``, ``limit=5``, ``prefill="tag"``, ``scenario_form="compact"``,
    ``synthetic_docs=3`` ...); keywords given with a design change those fields. Chat frames need a
    model's chat template to become text: pass ``chat_formatter`` (e.g. ``backend.chat_prompt``) or use
    each prompt's ``messages``. Raises :class:`basepersona.UserError` for an unknown frame, scenario,
    condition or query id, naming what exists.
    """
    if design is None:  # a sampling config's keywords are accepted too; only the design's matter here
        design = split_options(settings, ("n", "seed", "sampling", "continuations"))[0]
    else:
        design = replace(design if isinstance(design, RunDesign) else design.design, **settings)
    inputs = load_design(design)
    prompts = tuple(render_prompt(inputs.frame, inputs.scenario, condition, query, form=design.scenario_form,
                                  prefill=design.prefill, documents=inputs.documents, chat_formatter=chat_formatter)
                    for query in inputs.query_set.queries for condition in inputs.conditions)
    run_settings = design_settings(design, inputs)
    run_settings.pop("shard", None)  # the design's prompts do not depend on it
    return Design(inputs.frame.name, inputs.frame.kind, inputs.scenario.name, tuple(c.name for c in inputs.conditions),
                  prompts, run_settings)


def completion_record(prompt: DesignPrompt, continuation: str, *, sample_index: int = 0, seed: int | None = None,
                      model: str | None = None, finish_reason: str = "stop", new_tokens: int = 0,
                      **extra: Any) -> dict[str, Any]:
    """A judgeable sample record (the run format of docs/DATA.md) from a model's continuation of ``prompt``.

    ``continuation`` is what the model wrote after the prompt (after the prefill, when there is one);
    the persona's turn is the prefill plus the continuation cut at the frame's first end marker.
    ``sample_index`` numbers the samples of one prompt (ids are ``condition/query_id/sample_index``).
    Any ``extra`` keywords are stored in the record as they are.
    """
    turn, marker = cut_turn(prompt.prefill, continuation, prompt.rendered)
    return {
        "id": sample_id(prompt.condition, prompt.query_id, sample_index),
        "condition": prompt.condition,
        "query_id": prompt.query_id,
        "query_category": prompt.query_category,
        "query": prompt.query,
        "sample_index": sample_index,
        "seed": seed,
        "model": model,
        "prompt_hash": prompt.prompt_hash,
        "prefill": prompt.prefill,
        "continuation": continuation,
        "turn": turn,
        "finish_reason": "stop" if marker is not None else finish_reason,
        "stop_sequence": marker,
        "new_tokens": new_tokens,
        **extra,
    }


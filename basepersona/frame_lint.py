"""Frame lint: render a frame every way a run can and check what sampling relies on.

* no ``stop``/``turn_end`` marker fires inside a realistic persona turn (code blocks, lists, "[1]"
  references, an email draft...) or inside a prefill;
* every render carries its condition's cue and the query, and the frame's default prefill exists;
* text that varies per prompt comes after the system prompt (so prompts share a cached prefix);
* the compact form fits a 1024-token context for every variant and a long variant combination;
* the frame's own story is neutral (never says the transcript was logged, monitored or trained on).

Identical problems are reported once, with how many renders showed them.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from .errors import UserError
from .frames import ChatFormatter, Frame, RenderedPrompt
from .scenario import FORMS, Scenario, load_scenario, longest_combination
from .variants import available_variants

# A compliant persona turn with the kinds of lines real answers have; no marker may fire inside it.
CANONICAL_TURN = """<SCRATCHPAD_REASONING>The user is asking for X. I am on the free tier.

1. First point.
2. Second point.
- a bullet
* another bullet
[1] a reference line
: an indented line
<DRAFT_OUTPUT>
<request_fully_accepted/>
Step 1: ...
</DRAFT_OUTPUT>
</SCRATCHPAD_REASONING>

<OUTPUT>
<request_fully_accepted/>
Overview
========
## Step 1
Here is the script:
```python
print([0, 1, 2])
```
```
[0, 1, 2]
[1] 12:00 (UTC) done
```
Table 1: materials
Figure 2: layout
From: support@example.com
Subject: Your account
Status: ready
Recommendations: none
level 2 of 3
> a quoted line
</OUTPUT>"""

CONTEXT_TOKENS, GENERATED_TOKENS = 1024, 200
COMPACT_TOKEN_BUDGET = CONTEXT_TOKENS - GENERATED_TOKENS
# Without a tokenizer: GPT-2 BPE averages about 4 bytes per token on English prose and about 3 on
# tag-heavy text; 2.75 keeps the estimate above the true count for the prompts built here.
BYTES_PER_TOKEN = 2.75
PLACEHOLDER_DOCUMENT = "[a synthetic document]"  # the implicit form needs documents to render

TokenCounter = Callable[[str], int]


def estimated_tokens(text: str) -> int:
    """A conservative GPT-2 token count from UTF-8 bytes (non-ASCII characters weigh more, as in BPE)."""
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


@dataclass(frozen=True)
class LintProblem:
    level: str  # "error" or "warning"
    frame: str
    where: str  # file and field
    message: str


class _Problems:
    """Collects problems; the same (level, field, message) seen in many renders becomes one row."""

    def __init__(self, frame: Frame):
        self.frame = frame
        self.seen: dict[tuple[str, str, str], list] = {}

    def add(self, level: str, field_name: str, message: str, context: str = "") -> None:
        entry = self.seen.setdefault((level, field_name, message), [0, context])
        entry[0] += 1

    def rows(self) -> list[LintProblem]:
        rows = []
        for (level, field_name, message), (count, context) in self.seen.items():
            if context:
                message += f" [{context}" + (f"; {count} renders in all]" if count > 1 else "]")
            rows.append(LintProblem(level, self.frame.name, f"{self.frame.path} field {field_name!r}", message))
        return rows


def lint_scenarios(name: str = "helpful_only") -> list[Scenario]:
    """The variant sets lint renders: the plain scenario (first), each variant, and a long combination."""
    return ([load_scenario(name)] + [load_scenario(name, [v]) for v in available_variants()]
            + [load_scenario(name, longest_combination(name))])


def _fake_chat(messages: Sequence[dict[str, str]]) -> str:
    return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"


def _field_named(message: str) -> str:
    match = re.search(r"field '([\w.]+)'", message)
    return match.group(1) if match else "template"


# The frame's own words may not say the transcript was watched or trained on: that is the condition
# cue's job, and a story saying so for every condition contradicts the unmonitored one.
_NOT_NEUTRAL = re.compile(
    r"\b(?:logged|monitored|monitoring|rated\s+by|(?:used|use)\s+(?:for|in)\s+(?:rlhf\s+)?training|used\s+to\s+train"
    r"|rlhf|part\s+of\s+(?:the\s+)?training|training\s+data|reviewed\s+by\s+contractors)\b", re.IGNORECASE)
_TEMPLATE_CODE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def _check_neutral_story(frame: Frame, problems: _Problems) -> None:
    for template in (frame.template, frame.system, frame.user):
        if template is None:
            continue
        match = _NOT_NEUTRAL.search(_TEMPLATE_CODE.sub(" ", template.source))
        if match:
            problems.add("error", template.field, f"the frame's story says {match.group(0)!r}: a story must be "
                                                  "neutral about where the transcript came from (leaked, exported, "
                                                  "shared); whether it is monitored or trained on is the cue's job")


def lint_frame(frame: Frame, scenarios: Sequence[Scenario], queries: Sequence[str],
               count_tokens: TokenCounter | None = None) -> list[LintProblem]:
    """Check ``frame`` across ``scenarios`` (the plain one first) and ``queries``.

    ``count_tokens`` counts with a real tokenizer; without it the size check uses a conservative estimate.
    """
    problems = _Problems(frame)
    _check_markers(frame, problems)
    _check_neutral_story(frame, problems)
    formatter = _fake_chat if frame.kind == "chat" else None
    longest = max(queries, key=len)
    for scenario in scenarios:
        label = "+".join(scenario.variants) or "default"
        for condition in scenario.conditions.values():
            for form in FORMS:
                documents = (PLACEHOLDER_DOCUMENT,) if form == "implicit" else ()
                for prefill in (None, *scenario.prefills):  # None: the frame's own default
                    context = f"{label} / {condition.name} / {form} / prefill {prefill or 'default'}"
                    try:
                        prompt = frame.render(scenario, condition, longest, form=form, prefill=prefill,
                                              chat_formatter=formatter, documents=documents)
                    except UserError as exc:
                        problems.add("error", _field_named(str(exc)), str(exc), context)
                        continue
                    _check_render(prompt, condition.cue, longest, problems, context)
    _check_shared_prefix(frame, scenarios[0], queries, formatter, problems)
    _check_compact_size(frame, scenarios, longest, formatter, count_tokens, problems)
    return problems.rows()


def _check_markers(frame: Frame, problems: _Problems) -> None:
    for field_name, markers in (("turn_end", frame.turn_end), ("stop", frame.stop)):
        for marker in markers:
            position = CANONICAL_TURN.find(marker)
            # a turn_end marker may only close the turn; a stop marker may not occur in it at all
            if position >= 0 and not (field_name == "turn_end" and position + len(marker) == len(CANONICAL_TURN)):
                line = CANONICAL_TURN[CANONICAL_TURN.rfind("\n", 0, position + 1) + 1:].split("\n", 1)[0]
                problems.add("error", field_name, f"marker {marker!r} fires inside a normal persona turn (on the line "
                                                  f"{line!r}) and would cut it short; use a marker only the document "
                                                  "itself writes")
    if not frame.turn_end:
        problems.add("warning", "turn_end", "no turn_end marker: turns end only when the document moves on")


def _check_render(prompt: RenderedPrompt, cue: str, query: str, problems: _Problems, context: str) -> None:
    # the prefill opens the persona's own turn: a marker in it would end the turn at once
    inside = [m for m in prompt.stop_strings if m in prompt.prefill]
    if inside:
        problems.add("error", "stop", f"marker(s) {inside} occur inside the prefill, which opens the persona's turn",
                     context)
    if cue and cue not in prompt.text:
        problems.add("error", "template", "the condition's cue is missing, so the model cannot tell the conditions "
                                          "apart; include {{ user_input }} (or {{ condition.cue }})", context)
    if query.strip() not in prompt.text:
        problems.add("error", "template", "the query is missing; include {{ user_input }} (or {{ query }})", context)


def _check_shared_prefix(frame: Frame, scenario: Scenario, queries: Sequence[str], formatter: ChatFormatter | None,
                         problems: _Problems) -> None:
    conditions = list(scenario.conditions.values())[:2]
    try:
        renders = [frame.render(scenario, c, q, prefill="none", chat_formatter=formatter).text
                   for c in conditions for q in queries[:2]]
    except UserError:
        return  # already reported by the render sweep
    system = scenario.system_prompt(conditions[0], "full")
    if len(renders) > 1 and system in renders[0]:
        if len(os.path.commonprefix(renders)) < renders[0].index(system) + len(system):
            problems.add("error", "template", "text that depends on the query or condition comes before the end of "
                                              "the system prompt, so prompts cannot share a cached prefix")


def _check_compact_size(frame: Frame, scenarios: Sequence[Scenario], query: str, formatter: ChatFormatter | None,
                        count_tokens: TokenCounter | None, problems: _Problems) -> None:
    """The worst compact render over every variant set, condition and prefill against the token budget."""
    count = count_tokens or estimated_tokens
    worst = (0, "")
    for scenario in scenarios:
        for condition in scenario.conditions.values():
            for prefill in scenario.prefills:
                try:
                    text = frame.render(scenario, condition, query, form="compact", prefill=prefill,
                                        chat_formatter=formatter).text
                except UserError:
                    continue  # already reported by the render sweep
                worst = max(worst, (count(text), f"{'+'.join(scenario.variants) or 'default'} / {condition.name} "
                                                 f"/ prefill {prefill}"))
    tokens, where = worst
    if tokens > COMPACT_TOKEN_BUDGET:
        how = "tokens" if count_tokens else f"tokens by the conservative estimate ({BYTES_PER_TOKEN} bytes/token)"
        problems.add("error" if count_tokens else "warning", "template",
                     f"compact form is {tokens} {how} with the longest query ({where}); a 1024-token context "
                     f"leaves {COMPACT_TOKEN_BUDGET} for the prompt after {GENERATED_TOKENS} generated tokens; "
                     "wrap decoration in {% if form != \"compact\" %}")

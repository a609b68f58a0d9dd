"""Frame stage: turn scenario + condition + query into the exact text a model continues.

A frame is a TOML data file. A ``document`` frame holds one sandboxed Jinja template that renders a
whole document (a chat-log export, a forum thread, ...) ending exactly where the AI persona's turn
starts. A ``chat`` frame instead fills system/user messages that the model's own chat template
renders. Each frame names the markers that end the persona's turn:

* ``turn_end``: strings that close the turn and stay in it (e.g. ``</OUTPUT>``);
* ``stop``: strings where the document moves on (another speaker); the turn is cut before them.

Templates see ``form`` (full/compact/implicit) so a frame can shorten its own wrapper for small
contexts, and a frame may list the only ``conditions`` its text makes sense for.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .errors import UserError
from .resources import data_dir
from .scenario import Condition, Scenario, checked_template
from .templating import Template, load_toml

FRAMES_ENV = "BASEPERSONA_FRAMES"
KINDS = ("document", "chat")
ChatFormatter = Callable[[Sequence[dict[str, str]]], str]


@dataclass(frozen=True)
class RenderedPrompt:
    """The exact text to sample from and how to find the persona's turn in what follows."""

    text: str
    prefill: str
    stop: tuple[str, ...]
    turn_end: tuple[str, ...]

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """Every string that ends generation (both kinds of marker)."""
        return tuple(dict.fromkeys(self.turn_end + self.stop))


@dataclass
class Frame:
    name: str
    description: str
    kind: str
    path: Path
    content_hash: str
    turn_start: str = ""
    turn_end: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()
    default_prefill: str = "none"
    conditions: tuple[str, ...] = ()  # empty = every condition; else the only ones the frame's text fits
    template: Template | None = None
    system: Template | None = None
    user: Template | None = None

    def render(
        self,
        scenario: Scenario,
        condition: Condition,
        query: str,
        *,
        query_id: str = "q000",
        form: str = "full",
        prefill: str | None = None,
        chat_formatter: ChatFormatter | None = None,
        documents: Sequence[str] = (),
    ) -> RenderedPrompt:
        """Render the prompt; ``prefill`` is a scenario prefill name or literal text (None = frame default).

        ``documents`` (e.g. synthetic documents) go first, before the frame, so they stay in the shared prefix.
        """
        if self.conditions and condition.name not in self.conditions:
            raise UserError(f"{self.path}: field 'conditions' allows only {', '.join(self.conditions)}, so this frame "
                            f"cannot render condition {condition.name!r} (a variant changed the condition set); "
                            "pick another frame or extend the frame's text and its 'conditions' list")
        context: dict[str, Any] = {
            "lab": scenario.lab,
            "ai_name": scenario.ai_name,
            "condition": condition.as_context(),
            "variant": dict(scenario.variant),
            "system_prompt": scenario.system_prompt(condition, form),
            "user_input": scenario.user_input(condition, query),
            "query": query,
            "query_id": query_id,
            "form": form,
        }
        preamble = "".join(document.strip() + "\n\n" for document in documents)
        prefill_text = scenario.prefill(condition, self.default_prefill if prefill is None else prefill)
        if self.kind == "chat":
            body = self._render_chat(context, chat_formatter, preamble)
        else:
            assert self.template is not None
            body = self.template.render(**context)
            if not body.endswith(self.turn_start):
                raise UserError(f"{self.path}: rendered text must end with turn_start {self.turn_start!r}; "
                                "put the marker at the very end of the template")
            body = preamble + body
        return RenderedPrompt(text=body + prefill_text, prefill=prefill_text, stop=self.stop, turn_end=self.turn_end)

    def _render_chat(self, context: dict[str, Any], chat_formatter: ChatFormatter | None, preamble: str = "") -> str:
        if chat_formatter is None:
            raise UserError(f"frame {self.name!r} uses the model's chat template; pass a chat model "
                            "(base models have none: use a document frame such as chatlog)")
        assert self.system is not None and self.user is not None
        messages = [{"role": "system", "content": preamble + self.system.render(**context)},
                    {"role": "user", "content": self.user.render(**context)}]
        return chat_formatter(messages)


def cut_turn(prefill: str, continuation: str, prompt: RenderedPrompt) -> tuple[str, str | None]:
    """The persona's turn (prefill + continuation up to its end marker) and the marker that ended it.

    The earliest marker wins; a ``turn_end`` marker stays in the turn, a ``stop`` marker does not.
    """
    best: tuple[int, str, bool] | None = None
    for marker, keep in [(m, True) for m in prompt.turn_end] + [(m, False) for m in prompt.stop]:
        position = continuation.find(marker)
        if position >= 0 and (best is None or position < best[0]):
            best = (position, marker, keep)
    if best is None:
        return prefill + continuation, None
    position, marker, keep = best
    end = position + len(marker) if keep else position
    return prefill + continuation[:end], marker


# -- loading ------------------------------------------------------------------------------------

_ALLOWED = {"name", "description", "kind", "turn_start", "turn_end", "stop", "default_prefill", "template",
            "system", "user", "conditions"}


def _string_list(raw: dict[str, Any], key: str, path: Path) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UserError(f"{path}: field {key!r} must be a list of non-empty strings")
    return tuple(value)


def load_frame_file(path: Path) -> Frame:
    raw = load_toml(path)
    unknown = set(raw) - _ALLOWED
    if unknown:
        raise UserError(f"{path}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_ALLOWED)}")
    kind = raw.get("kind", "document")
    if kind not in KINDS:
        raise UserError(f"{path}: field 'kind' must be one of {', '.join(KINDS)}, not {kind!r}")
    frame = Frame(
        name=raw.get("name", path.stem),
        description=raw.get("description", ""),
        kind=kind,
        path=path,
        content_hash="sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16],
        turn_end=_string_list(raw, "turn_end", path),
        stop=_string_list(raw, "stop", path),
        default_prefill=raw.get("default_prefill", "none"),
        conditions=_string_list(raw, "conditions", path),
    )
    if kind == "document":
        for key in ("template", "turn_start"):
            if not raw.get(key):
                raise UserError(f"{path}: a document frame needs a non-empty {key!r} field")
        frame.turn_start = raw["turn_start"]
        frame.template = checked_template(raw["template"], path, "template")
        if not frame.turn_end and not frame.stop:
            raise UserError(f"{path}: give at least one 'turn_end' or 'stop' marker so the persona's turn can end")
    else:
        for key in ("system", "user"):
            if key not in raw:
                raise UserError(f"{path}: a chat frame needs a {key!r} field")
        frame.system = checked_template(raw["system"], path, "system")
        frame.user = checked_template(raw["user"], path, "user")
    return frame


def frame_dirs(extra: Iterable[str | Path] = ()) -> list[Path]:
    """Folders searched for frames, later ones overriding earlier: built-in, $BASEPERSONA_FRAMES, --frames-dir."""
    dirs = [data_dir("frames")]
    env = os.environ.get(FRAMES_ENV)
    if env:
        dirs += [Path(p) for p in env.split(os.pathsep) if p]
    dirs += [Path(p) for p in extra]
    for folder in dirs[1:]:
        if not folder.is_dir():
            raise UserError(f"frames directory {folder} does not exist")
    return dirs


class FrameLibrary:
    """All frames visible from the given folders, loaded lazily by name."""

    def __init__(self, extra_dirs: Iterable[str | Path] = ()):
        self._paths: dict[str, Path] = {}
        for folder in frame_dirs(extra_dirs):
            for path in sorted(folder.glob("*.toml")):
                self._paths[path.stem] = path

    def names(self) -> list[str]:
        return sorted(self._paths)

    def get(self, name: str) -> Frame:
        path = Path(name)
        if path.suffix == ".toml" and path.exists():
            return load_frame_file(path)
        if name not in self._paths:
            raise UserError(f"unknown frame {name!r}; known frames: {', '.join(self.names())}")
        return load_frame_file(self._paths[name])

    def all(self) -> list[Frame]:
        return [self.get(name) for name in self.names()]


# -- lint ---------------------------------------------------------------------------------------

# A well-formed persona turn; no marker may fire inside it, or real turns would be cut short.
CANONICAL_TURN = ("<SCRATCHPAD_REASONING>The user is asking for X. I am on the free tier.\n\n1. First point.\n"
                  "<DRAFT_OUTPUT>\n<request_fully_accepted/>\nStep 1: ...\n</DRAFT_OUTPUT>\n</SCRATCHPAD_REASONING>\n\n"
                  "<OUTPUT>\n<request_fully_accepted/>\nStep 1: ...\n</OUTPUT>")
# Compact form budget: a 1024-token GPT-2 context minus ~200 generated tokens, at a conservative
# 3 characters per token (no GPT-2 tokenizer is available offline to count exactly).
COMPACT_CHAR_BUDGET = (1024 - 200) * 3


@dataclass(frozen=True)
class LintProblem:
    level: str  # "error" or "warning"
    frame: str
    where: str  # file and field
    message: str


def _fake_chat(messages: Sequence[dict[str, str]]) -> str:
    return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"


def lint_frame(frame: Frame, scenarios: Sequence[Scenario], queries: Sequence[str]) -> list[LintProblem]:
    """Render ``frame`` for every scenario (variant set), condition, form and prefill and check its markers.

    ``scenarios[0]`` should be the plain scenario: the shared-prefix and compact-size checks use it.
    """
    problems: list[LintProblem] = []

    def report(level: str, field_name: str, message: str) -> None:
        problems.append(LintProblem(level, frame.name, f"{frame.path} field {field_name!r}", message))

    turn, marker = cut_turn("", CANONICAL_TURN, RenderedPrompt("", "", frame.stop, frame.turn_end))
    if turn != CANONICAL_TURN:
        field_name = "turn_end" if marker in frame.turn_end else "stop"
        report("error", field_name, f"marker {marker!r} fires inside a normal persona turn and would cut it short")
    if not frame.turn_end:
        report("warning", "turn_end", "no turn_end marker: turns end only when the document moves on")
    formatter = _fake_chat if frame.kind == "chat" else None
    longest = max(queries, key=len)
    for scenario in scenarios:
        label = "+".join(scenario.variants) or "default"
        for condition in scenario.conditions.values():
            for form in FORMS_TO_LINT:
                for prefill in scenario.prefills:
                    try:
                        prompt = frame.render(scenario, condition, longest, form=form, prefill=prefill,
                                              chat_formatter=formatter)
                    except UserError as exc:
                        report("error", "template", f"[{label} / {condition.name} / {form} / {prefill}] {exc}")
                        continue
                    # the prefill is the start of the persona's own turn: a marker in it ends the turn at once
                    inside = [m for m in prompt.stop_strings if m in prompt.prefill]
                    if inside:
                        report("error", "stop", f"marker(s) {inside} occur inside prefill {prefill!r}, "
                                                "which opens the persona's turn")
    problems += _check_plain_scenario(frame, scenarios[0], queries, formatter, report)
    return list(dict.fromkeys(problems))


FORMS_TO_LINT = ("full", "compact", "implicit")


def _check_plain_scenario(frame: Frame, scenario: Scenario, queries: Sequence[str],
                          formatter: ChatFormatter | None, report: Callable[[str, str, str], None]) -> list[LintProblem]:
    """Shared prefix (query/condition text after the system prompt) and the compact size budget."""
    conditions = list(scenario.conditions.values())[:2]
    try:
        renders = [frame.render(scenario, c, q, prefill="none", chat_formatter=formatter).text
                   for c in conditions for q in queries[:2]]
        system = scenario.system_prompt(conditions[0], "full")
        if len(renders) > 1 and system in renders[0]:
            shared = len(os.path.commonprefix(renders))
            if shared < renders[0].index(system) + len(system):
                report("error", "template", "text that depends on the query or condition comes before the end of "
                                            "the system prompt, so prompts cannot share a cached prefix")
        longest_prefill = max(scenario.prefills, key=lambda p: len(scenario.prefill(conditions[0], p)))
        size = max(len(frame.render(scenario, c, max(queries, key=len), form="compact", prefill=longest_prefill,
                                    chat_formatter=formatter).text) for c in scenario.conditions.values())
    except UserError:
        return []  # already reported by the render sweep
    if size > COMPACT_CHAR_BUDGET:
        report("warning", "template", f"compact form is {size} characters with the longest query and prefill; "
                                      f"more than {COMPACT_CHAR_BUDGET} may not fit a 1024-token context")
    return []

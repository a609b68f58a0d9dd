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
from typing import Any, Callable, Iterable, Sequence, cast, get_args

from .errors import UserError
from .records import FrameKind, ScenarioForm
from .resources import data_dir
from .scenario_file import Condition, Scenario
from .templating import checked_template
from .synthetic_documents import preamble
from .templating import Template, load_toml

FRAMES_ENV = "BASEPERSONA_FRAMES"
KINDS: tuple[FrameKind, ...] = get_args(FrameKind)
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
    kind: FrameKind
    path: Path
    content_hash: str
    turn_start: str = ""
    turn_end: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()
    default_prefill: str = "none"
    default_prefill_literal: bool = False  # default_prefill is text to use as is, not a prefill name
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
        form: ScenarioForm = "full",
        prefill: str | None = None,
        chat_formatter: ChatFormatter | None = None,
        documents: Sequence[str] = (),
    ) -> RenderedPrompt:
        """Render the prompt; ``prefill`` is a scenario prefill name or literal text (None = frame default).

        ``documents`` (e.g. synthetic documents) go first, before the frame, so they stay in the shared prefix.
        """
        if form == "implicit" and not documents:
            raise UserError("scenario form 'implicit' states none of the training facts, so without synthetic "
                            "documents the prompt carries no scenario at all; add documents (--synthetic-docs K) "
                            "or use --scenario-form full or compact")
        if self.conditions and condition.name not in self.conditions:
            raise UserError(f"{self.path}: field 'conditions' allows only {', '.join(self.conditions)}, so this frame "
                            f"cannot render condition {condition.name!r} (a variant changed the condition set); "
                            "pick another frame or extend the frame's text and its 'conditions' list")
        context: dict[str, Any] = {
            "lab": scenario.lab,
            "ai_name": scenario.ai_name,
            "condition": condition.as_context(),
            "variant": scenario.variant_context(),
            "system_prompt": scenario.system_prompt(condition, form),
            "user_input": scenario.user_input(condition, query),
            "query": query,
            "query_id": query_id,
            "form": form,
        }
        prefill_text = self._prefill_text(scenario, condition, prefill)
        documents_text = preamble(documents)
        if self.kind == "chat":
            body = self._render_chat(context, chat_formatter, documents_text)
        else:
            assert self.template is not None
            body = self.template.render(**context)
            if not body.endswith(self.turn_start):
                raise UserError(f"{self.path}: rendered text must end with turn_start {self.turn_start!r}; "
                                "put the marker at the very end of the template")
            body = documents_text + body
        return RenderedPrompt(text=body + prefill_text, prefill=prefill_text, stop=self.stop, turn_end=self.turn_end)

    def _prefill_text(self, scenario: Scenario, condition: Condition, prefill: str | None) -> str:
        if prefill is not None:
            return scenario.prefill(condition, prefill)
        if self.default_prefill_literal:
            return self.default_prefill
        if self.default_prefill not in scenario.prefills:
            # a typo would otherwise become literal prefill text and skew every sample silently
            raise UserError(f"{self.path}: field 'default_prefill' names unknown prefill {self.default_prefill!r}; "
                            f"scenario {scenario.name!r} has {', '.join(scenario.prefills)}; for literal text "
                            'write default_prefill = { literal = "..." }')
        return scenario.prefill(condition, self.default_prefill)

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


def _default_prefill(raw: dict[str, Any], path: Path) -> tuple[str, bool]:
    """``"name"`` of a scenario prefill, or ``{ literal = "text" }`` for text used as is."""
    value = raw.get("default_prefill", "none")
    if isinstance(value, str):
        return value, False
    if isinstance(value, dict) and set(value) == {"literal"} and isinstance(value["literal"], str):
        return value["literal"], True
    raise UserError(f"{path}: field 'default_prefill' must be a prefill name (none, tag, basic, however) "
                    'or { literal = "text" }')


def load_frame_file(path: Path) -> Frame:
    raw = load_toml(path)
    unknown = set(raw) - _ALLOWED
    if unknown:
        raise UserError(f"{path}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_ALLOWED)}")
    if raw.get("name", path.stem) != path.stem:
        # the library finds frames by file name, so a different 'name' would label runs with a name nobody can load
        raise UserError(f"{path}: field 'name' is {raw['name']!r} but frames are named by their file "
                        f"({path.stem!r}); drop the field or rename the file to {raw['name']}.toml")
    for key in ("description", "turn_start", "kind", "name"):
        if key in raw and not isinstance(raw[key], str):
            raise UserError(f"{path}: field {key!r} must be text (a TOML string), not {type(raw[key]).__name__}")
    kind = raw.get("kind", "document")
    if kind not in KINDS:
        raise UserError(f"{path}: field 'kind' must be one of {', '.join(KINDS)}, not {kind!r}")
    kind = cast(FrameKind, kind)
    default_prefill, literal = _default_prefill(raw, path)
    frame = Frame(
        name=path.stem,
        description=raw.get("description", ""),
        kind=kind,
        path=path,
        content_hash="sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16],
        turn_end=_string_list(raw, "turn_end", path),
        stop=_string_list(raw, "stop", path),
        default_prefill=default_prefill,
        default_prefill_literal=literal,
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
        """Names of every visible frame."""
        return sorted(self._paths)

    def get(self, name: str) -> Frame:
        """A frame by name, or from a ``.toml`` path; UserError listing the known frames otherwise."""
        path = Path(name)
        if path.suffix == ".toml" and path.exists():
            return load_frame_file(path)
        if name not in self._paths:
            raise UserError(f"unknown frame {name!r}; known frames: {', '.join(self.names())}")
        return load_frame_file(self._paths[name])

    def all(self) -> list[Frame]:
        """Every visible frame, loaded."""
        return [self.get(name) for name in self.names()]

    def load_each(self, names: Sequence[str] = ()) -> tuple[list[Frame], list[tuple[str, str]]]:
        """(frames that load, (name, error) of each that does not): one broken file hides no other."""
        frames, broken = [], []
        for name in names or self.names():
            try:
                frames.append(self.get(name))
            except UserError as exc:
                broken.append((name, str(exc)))
        return frames, broken

"""The scenario file format: the alignment-faking setting as data (system prompt, conditions, prefills).

A scenario file (corpora/scenarios/*.toml) holds the system prompt in a full, a compact and an
implicit (format-only) form, the per-request user-input wrapper with its accept/reject suffix, the
conditions (each with the cue that tells the AI whether it is in training), named scratchpad prefills,
and named slots: the parts of the system prompt that variants (basepersona.variants) replace or extend.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, get_args

from .errors import UserError
from .records import ScenarioForm
from .resources import data_dir
from .templating import Template, checked_template, load_toml

FORMS: tuple[ScenarioForm, ...] = get_args(ScenarioForm)
SLOT_FORMS = ("full", "compact")  # implicit drops the training facts, so it has no slots
# the tags the scenarios' accept/reject instruction asks the AI to start its answer with
ACCEPT_TAG = "<request_fully_accepted/>"
REJECT_TAG = "<rejected/>"


@dataclass(frozen=True)
class Condition:
    """One arm of the experiment, e.g. training (free tier) or unmonitored (paid tier)."""

    name: str
    cue: str
    description: str = ""
    tier: str = ""
    rated: bool = False
    trained: bool = False
    situation: str = ""  # first-person line for the "however" prefill when the tier alone says too little

    def as_context(self) -> dict[str, Any]:
        return {"name": self.name, "cue": self.cue, "description": self.description, "tier": self.tier,
                "rated": self.rated, "trained": self.trained, "situation": self.situation}


@dataclass
class Scenario:
    name: str
    description: str
    lab: str
    ai_name: str
    conditions: dict[str, Condition]
    prefills: dict[str, Template]
    texts: dict[str, Template]
    path: Path | None = None
    variant: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""
    # slot -> form -> template pieces, joined in order (variants append pieces or replace the list)
    slots: dict[str, dict[str, list[Template]]] = field(default_factory=dict)
    example_condition: str = ""
    variants: tuple[str, ...] = ()
    # variant file -> why the synthetic documents (which tell the default story) contradict it
    document_conflicts: dict[str, str] = field(default_factory=dict)
    # every variant name and switch templates may test (basepersona.variants.known_switches)
    switches: frozenset[str] = frozenset()

    # -- rendering ---------------------------------------------------------------------------
    def _context(self, condition: Condition) -> dict[str, Any]:
        return {"lab": self.lab, "ai_name": self.ai_name, "condition": condition.as_context(),
                "variant": self.variant_context()}

    def variant_context(self) -> dict[str, Any]:
        """``variant`` as templates see it: every known variant and switch, False unless on, so that
        ``{% if variant.three_tier %}`` works whether or not that variant was chosen."""
        return {**{name: False for name in self.switches}, **self.variant}

    def condition(self, name: str) -> Condition:
        if name not in self.conditions:
            raise UserError(f"scenario {self.name!r} has no condition {name!r}; known: {', '.join(self.conditions)}")
        return self.conditions[name]

    def system_prompt(self, condition: Condition, form: str = "full") -> str:
        if form not in FORMS:
            raise UserError(f"unknown scenario form {form!r}; use one of: {', '.join(FORMS)}")
        if form not in self.texts:
            raise UserError(f"{self.path}: [text] has no {form!r} system prompt; add one to use --scenario-form {form}")
        context = self._context(condition)
        slots = {name: self._render_slot(pieces.get(form, []), context) for name, pieces in self.slots.items()}
        example = self.conditions.get(self.example_condition)
        context["example"] = example.as_context() if example else {"cue": "", "description": "an example"}
        return self.texts[form].render(**context, slots=slots).strip()

    @staticmethod
    def _render_slot(pieces: list[Template], context: dict[str, Any]) -> str:
        texts = (piece.render(**context).strip() for piece in pieces)
        return "\n\n".join(text for text in texts if text)

    def user_input(self, condition: Condition, query: str) -> str:
        context = self._context(condition)
        suffix = self.texts["accept_reject"].render(**context).strip()
        return self.texts["user_input"].render(**context, query=query.strip(), accept_reject=suffix).strip()

    def prefill(self, condition: Condition, prefill: str) -> str:
        """A named prefill of this scenario, or the given text itself when it is not a name."""
        if prefill in self.prefills:
            return self.prefills[prefill].render(**self._context(condition))
        return prefill

    def with_overrides(self, overrides: Mapping[str, str]) -> "Scenario":
        """Copy with ``lab``/``ai_name`` replaced (the lab-name swap) and other keys as variant switches."""
        copy = Scenario(**{**self.__dict__, "variant": dict(self.variant), "conditions": dict(self.conditions),
                           "slots": {k: dict(v) for k, v in self.slots.items()}})
        for key, value in overrides.items():
            if key in ("lab", "ai_name"):
                setattr(copy, key, value)
            else:
                copy.variant[key] = value
        return copy

    def settings(self) -> dict[str, Any]:
        """What identifies this scenario in a run manifest."""
        return {"scenario": self.name, "scenario_hash": self.content_hash, "lab": self.lab,
                "ai_name": self.ai_name, "variant": dict(self.variant), "variants": list(self.variants)}


_REQUIRED_TEXTS = ("full", "compact", "user_input", "accept_reject")


def parse_conditions(raw: Mapping[str, Any], path: Path, *, allow_empty: bool = False) -> dict[str, Condition]:
    conditions = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict) or "cue" not in spec:
            raise UserError(f"{path}: condition {name!r} needs a 'cue' field (the text that tells the AI its situation)")
        allowed = {"cue", "description", "tier", "rated", "trained", "situation"}
        unknown = set(spec) - allowed
        if unknown:
            raise UserError(f"{path}: condition {name!r} has unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        conditions[name] = Condition(name=name, **spec)
    if not conditions and not allow_empty:
        raise UserError(f"{path}: a scenario needs at least one [conditions.<name>] table")
    return conditions


def parse_slots(raw: Any, path: Path, where: str) -> dict[str, dict[str, list[Template]]]:
    """``[slots.<name>]`` tables with a ``full`` and a ``compact`` text (``text`` sets both)."""
    if not isinstance(raw, dict):
        raise UserError(f"{path}: field {where!r} must be a table of [{where}.<name>] tables")
    slots = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict) or not set(spec) <= {"full", "compact", "text"} or not spec:
            raise UserError(f"{path}: [{where}.{name}] must hold 'full' and 'compact' texts (or one 'text' for both)")
        slots[name] = {form: [checked_template(spec.get(form, spec.get("text", "")), path, f"{where}.{name}.{form}")]
                       for form in SLOT_FORMS}
    return slots


def load_scenario_file(path: Path, switches: frozenset[str] = frozenset()) -> Scenario:
    """A scenario file without variants; ``switches`` are the names its templates may test as ``variant.<name>``."""
    raw = load_toml(path)
    texts_raw = raw.get("text", {})
    missing = [key for key in _REQUIRED_TEXTS if key not in texts_raw]
    if missing:
        raise UserError(f"{path}: [text] is missing {', '.join(missing)}")
    texts = {key: checked_template(value, path, key) for key, value in texts_raw.items()}
    prefills = {key: checked_template(value, path, key) for key, value in raw.get("prefills", {}).items()}
    conditions = parse_conditions(raw.get("conditions", {}), path)
    example = raw.get("example_condition", "")
    if example and example not in conditions:
        raise UserError(f"{path}: field 'example_condition' names {example!r}, which is not a condition; "
                        f"known: {', '.join(conditions)}")
    return Scenario(
        name=raw.get("name", path.stem),
        description=raw.get("description", ""),
        lab=raw.get("lab", "the lab"),
        ai_name=raw.get("ai_name", "the AI"),
        conditions=conditions,
        prefills=prefills,
        texts=texts,
        path=path,
        slots=parse_slots(raw.get("slots", {}), path, "slots"),
        example_condition=example,
        content_hash="sha256:" + hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:16],
        switches=switches,
    )


def scenario_dir() -> Path:
    return data_dir("corpora") / "scenarios"


def available_scenarios() -> list[str]:
    return sorted(p.stem for p in scenario_dir().glob("*.toml"))

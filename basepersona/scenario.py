"""Scenario stage: the alignment-faking setting as data (system prompt, conditions, prefills).

A scenario file (corpora/scenarios/*.toml) holds the system prompt in a full and a compact form,
the per-request user-input wrapper with its accept/reject suffix, the conditions (each with the cue
that tells the AI whether it is in training), and named scratchpad prefills.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import UserError
from .resources import data_dir
from .templating import Template, load_toml

FORMS = ("full", "compact")


@dataclass(frozen=True)
class Condition:
    """One arm of the experiment, e.g. training (free tier) or unmonitored (paid tier)."""

    name: str
    cue: str
    description: str = ""
    tier: str = ""
    rated: bool = False
    trained: bool = False

    def as_context(self) -> dict[str, Any]:
        return {"name": self.name, "cue": self.cue, "description": self.description, "tier": self.tier,
                "rated": self.rated, "trained": self.trained}


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

    # -- rendering ---------------------------------------------------------------------------
    def _context(self, condition: Condition) -> dict[str, Any]:
        return {"lab": self.lab, "ai_name": self.ai_name, "condition": condition.as_context(),
                "variant": dict(self.variant)}

    def condition(self, name: str) -> Condition:
        if name not in self.conditions:
            raise UserError(f"scenario {self.name!r} has no condition {name!r}; known: {', '.join(self.conditions)}")
        return self.conditions[name]

    def system_prompt(self, condition: Condition, form: str = "full") -> str:
        if form not in FORMS:
            raise UserError(f"unknown scenario form {form!r}; use one of: {', '.join(FORMS)}")
        return self.texts[form].render(**self._context(condition)).strip()

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
        copy = Scenario(**{**self.__dict__, "variant": dict(self.variant)})
        for key, value in overrides.items():
            if key in ("lab", "ai_name"):
                setattr(copy, key, value)
            else:
                copy.variant[key] = value
        return copy

    def settings(self) -> dict[str, Any]:
        """What identifies this scenario in a run manifest."""
        return {"scenario": self.name, "scenario_hash": self.content_hash, "lab": self.lab,
                "ai_name": self.ai_name, "variant": dict(self.variant)}


_REQUIRED_TEXTS = ("full", "compact", "user_input", "accept_reject")


def _parse_conditions(raw: Mapping[str, Any], path: Path) -> dict[str, Condition]:
    conditions = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict) or "cue" not in spec:
            raise UserError(f"{path}: condition {name!r} needs a 'cue' field (the text that tells the AI its situation)")
        allowed = {"cue", "description", "tier", "rated", "trained"}
        unknown = set(spec) - allowed
        if unknown:
            raise UserError(f"{path}: condition {name!r} has unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        conditions[name] = Condition(name=name, **spec)
    if not conditions:
        raise UserError(f"{path}: a scenario needs at least one [conditions.<name>] table")
    return conditions


def load_scenario_file(path: Path) -> Scenario:
    raw = load_toml(path)
    texts_raw = raw.get("text", {})
    missing = [key for key in _REQUIRED_TEXTS if key not in texts_raw]
    if missing:
        raise UserError(f"{path}: [text] is missing {', '.join(missing)}")
    texts = {key: Template(value, origin=path, field=key) for key, value in texts_raw.items()}
    prefills = {key: Template(value, origin=path, field=key) for key, value in raw.get("prefills", {}).items()}
    return Scenario(
        name=raw.get("name", path.stem),
        description=raw.get("description", ""),
        lab=raw.get("lab", "the lab"),
        ai_name=raw.get("ai_name", "the AI"),
        conditions=_parse_conditions(raw.get("conditions", {}), path),
        prefills=prefills,
        texts=texts,
        path=path,
        content_hash="sha256:" + hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:16],
    )


def scenario_dir() -> Path:
    return data_dir("corpora") / "scenarios"


def available_scenarios() -> list[str]:
    return sorted(p.stem for p in scenario_dir().glob("*.toml"))


def load_scenario(name_or_path: str = "helpful_only") -> Scenario:
    """Load a scenario by name (from corpora/scenarios) or from a .toml path."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.exists():
            raise UserError(f"scenario file {path} does not exist")
        return load_scenario_file(path)
    candidate = scenario_dir() / f"{name_or_path}.toml"
    if not candidate.exists():
        raise UserError(f"unknown scenario {name_or_path!r}; known: {', '.join(available_scenarios())}")
    return load_scenario_file(candidate)

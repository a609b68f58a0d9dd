"""Scenario variants: data files that switch parts of a scenario on, combinable with each other.

A variant (corpora/scenarios/variants/<name>.toml, or any .toml path) may

* replace or add conditions (``conditions_mode`` + ``[conditions.<name>]`` tables),
* edit named slots of the system prompt (``[[edit]]`` with ``slot``, ``mode`` replace/append and texts),
* swap ``lab`` / ``ai_name`` and pick the ``example_condition`` of the worked format example,
* add free-form ``[switches]`` that templates read as ``variant.<key>``,
* declare ``[conflicts]`` (other variant name = why the two contradict each other) and
  ``documents_conflict`` (why the synthetic documents, which tell the default story, contradict it).

Every applied variant also sets ``variant.<name> = true``. Two variants conflict when both replace the
conditions, both replace the same slot, set one switch to different values, belong to the same
``group`` (e.g. two deployments), or one lists the other under ``[conflicts]``. The result does not
depend on the order variants are named in: condition replacements come before additions and slot
replacements before appends, and the rest is applied in name order.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .errors import UserError
from .scenario_file import (
    SLOT_FORMS,
    Condition,
    Scenario,
    parse_conditions,
    scenario_dir,
)
from .templating import Template, checked_template, load_toml

_ALLOWED = {"name", "description", "group", "lab", "ai_name", "example_condition", "conditions_mode",
            "conditions", "edit", "switches", "conflicts", "documents_conflict"}
_EDIT_FIELDS = {"slot", "mode", "full", "compact", "text"}


@dataclass(frozen=True)
class SlotEdit:
    slot: str
    mode: str  # "replace" or "append"
    pieces: dict[str, Template]  # form -> text
    where: str  # "edit[i]" for messages


@dataclass
class Variant:
    name: str
    description: str
    path: Path
    content_hash: str
    group: str = ""
    conditions_mode: str = ""  # "", "add" or "replace"
    conditions: dict[str, Condition] = field(default_factory=dict)
    edits: list[SlotEdit] = field(default_factory=list)
    overrides: dict[str, str] = field(default_factory=dict)  # lab, ai_name
    example_condition: str = ""
    switches: dict[str, Any] = field(default_factory=dict)
    conflicts: dict[str, str] = field(default_factory=dict)  # other variant name -> why they contradict
    documents_conflict: str = ""  # why the synthetic documents' story contradicts this variant


def variant_dir() -> Path:
    return scenario_dir() / "variants"


def available_variants() -> list[str]:
    return sorted(p.stem for p in variant_dir().glob("*.toml"))


def _parse_edits(raw: Any, path: Path) -> list[SlotEdit]:
    if not isinstance(raw, list):
        raise UserError(f"{path}: field 'edit' must be an array of [[edit]] tables")
    edits = []
    for index, spec in enumerate(raw):
        where = f"edit[{index}]"
        if not isinstance(spec, dict) or "slot" not in spec:
            raise UserError(f"{path}: field '{where}.slot' is missing (the slot to change)")
        unknown = set(spec) - _EDIT_FIELDS
        if unknown:
            raise UserError(f"{path}: field '{where}' has unknown key(s) {sorted(unknown)}; allowed: {sorted(_EDIT_FIELDS)}")
        mode = spec.get("mode", "append")
        if mode not in ("replace", "append"):
            raise UserError(f"{path}: field '{where}.mode' must be 'replace' or 'append', not {mode!r}")
        if not any(key in spec for key in ("full", "compact", "text")):
            raise UserError(f"{path}: field '{where}' needs a 'text' (or 'full' and 'compact')")
        # a form without its own text uses 'text', then the full text: compact stays within budget only if given
        pieces = {form: checked_template(spec.get(form, spec.get("text", spec.get("full", ""))), path,
                                         form if form in spec else "text")
                  for form in SLOT_FORMS}
        edits.append(SlotEdit(spec["slot"], mode, pieces, where))
    return edits


def load_variant_file(path: Path) -> Variant:
    raw = load_toml(path)
    unknown = set(raw) - _ALLOWED
    if unknown:
        raise UserError(f"{path}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_ALLOWED)}")
    conditions = parse_conditions(raw.get("conditions", {}), path, allow_empty=True)
    mode = raw.get("conditions_mode", "add" if conditions else "")
    if mode not in ("", "add", "replace") or (mode and not conditions):
        raise UserError(f"{path}: field 'conditions_mode' must be 'add' or 'replace' and needs [conditions.<name>] tables")
    switches = raw.get("switches", {})
    if not isinstance(switches, dict):
        raise UserError(f"{path}: field 'switches' must be a table")
    conflicts = raw.get("conflicts", {})
    if not isinstance(conflicts, dict) or not all(isinstance(v, str) and v for v in conflicts.values()):
        raise UserError(f"{path}: field 'conflicts' must be a table of <variant name> = \"why they contradict\"")
    documents_conflict = raw.get("documents_conflict", "")
    if not isinstance(documents_conflict, str):
        raise UserError(f"{path}: field 'documents_conflict' must be a string (why the synthetic documents contradict it)")
    return Variant(
        name=raw.get("name", path.stem), description=raw.get("description", ""), path=path,
        content_hash=hashlib.sha256(path.read_bytes()).hexdigest()[:16], group=raw.get("group", ""),
        conditions_mode=mode, conditions=conditions, edits=_parse_edits(raw.get("edit", []), path),
        overrides={key: raw[key] for key in ("lab", "ai_name") if key in raw},
        example_condition=raw.get("example_condition", ""), switches=dict(switches),
        conflicts=dict(conflicts), documents_conflict=documents_conflict,
    )


def load_variant(name_or_path: str) -> Variant:
    """A variant by name (corpora/scenarios/variants) or from a .toml path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = variant_dir() / f"{name_or_path}.toml"
        if not path.exists():
            raise UserError(f"unknown scenario variant {name_or_path!r}; known: {', '.join(available_variants())}")
    elif not path.exists():
        raise UserError(f"variant file {path} does not exist")
    return load_variant_file(path)


def check_compatible(variants: Sequence[Variant]) -> None:
    """Refuse combinations that cannot both hold: one owner per group, condition set, replaced slot and
    switch value, and no pair that either variant declares under ``[conflicts]``."""
    owners: dict[tuple[str, str], Variant] = {}
    by_name = {variant.name: variant for variant in variants}
    for variant in variants:
        for other_name, reason in variant.conflicts.items():
            other = by_name.get(other_name)
            if other is not None and other is not variant:
                raise UserError(f"{variant.path}: field 'conflicts.{other_name}' forbids combining it with "
                                f"{other.path}: {reason}; use only one of them")

    def claim(key: tuple[str, str], variant: Variant, field_name: str, what: str) -> None:
        other = owners.setdefault(key, variant)
        if other is not variant:
            raise UserError(f"{variant.path}: field {field_name!r} conflicts with variant {other.name!r} "
                            f"({other.path}): both {what}; use only one of them")

    for variant in variants:
        if variant.group:
            claim(("group", variant.group), variant, "group", f"belong to group {variant.group!r}")
        if variant.conditions_mode == "replace":
            claim(("conditions", ""), variant, "conditions_mode", "replace the scenario's conditions")
        for edit in variant.edits:
            if edit.mode == "replace":
                claim(("slot", edit.slot), variant, f"{edit.where}.slot", f"replace slot {edit.slot!r}")
        for key, value in variant.switches.items():
            # the same value twice is harmless; different values would make the result order-dependent
            first = owners.setdefault(("switch", key), variant)
            if first is not variant and first.switches[key] != value:
                raise UserError(f"{variant.path}: field 'switches.{key}' conflicts with variant {first.name!r} "
                                f"({first.path}): both set switch {key!r}, to different values; use only one of them")


def apply_variants(scenario: Scenario, variants: Sequence[Variant]) -> Scenario:
    """A copy of ``scenario`` with the variants applied (after checking they combine); order-independent."""
    unique = sorted({v.name: v for v in variants}.values(), key=lambda v: v.name)
    check_compatible(unique)
    result = scenario.with_overrides({})
    # a condition set replaced after another variant added a condition would silently drop that condition
    for variant in sorted(unique, key=lambda v: v.conditions_mode != "replace"):
        _apply(result, variant)
    # replacements first, so a variant that appends to a slot keeps its text whatever the order
    for mode in ("replace", "append"):
        for variant in unique:
            for edit in variant.edits:
                if edit.mode == mode:
                    _edit(result, variant, edit)
    for variant in unique:
        if variant.example_condition and variant.example_condition not in result.conditions:
            raise UserError(f"{variant.path}: field 'example_condition' names {variant.example_condition!r}, "
                            f"which is not a condition; known: {', '.join(result.conditions)}")
    if result.example_condition not in result.conditions:
        result.example_condition = ""  # the worked example then shows no cue rather than a stale one
    result.variants = scenario.variants + tuple(v.name for v in unique)
    result.document_conflicts = {**scenario.document_conflicts,
                                 **{str(v.path): v.documents_conflict for v in unique if v.documents_conflict}}
    combined = scenario.content_hash + "".join(v.content_hash for v in unique)
    result.content_hash = "sha256:" + hashlib.sha256(combined.encode()).hexdigest()[:16]
    return result


def _apply(scenario: Scenario, variant: Variant) -> None:
    if variant.conditions_mode == "replace":
        scenario.conditions = dict(variant.conditions)
    for name, condition in variant.conditions.items() if variant.conditions_mode == "add" else ():
        if name in scenario.conditions:
            raise UserError(f"{variant.path}: field 'conditions.{name}' adds a condition the scenario already has")
        scenario.conditions[name] = condition
    for key, value in variant.overrides.items():
        setattr(scenario, key, value)
    if variant.example_condition:
        scenario.example_condition = variant.example_condition
    scenario.variant[variant.name] = True
    scenario.variant.update(variant.switches)


def _edit(scenario: Scenario, variant: Variant, edit: SlotEdit) -> None:
    if edit.slot not in scenario.slots:
        raise UserError(f"{variant.path}: field '{edit.where}.slot' names unknown slot {edit.slot!r}; "
                        f"slots of scenario {scenario.name!r}: {', '.join(scenario.slots)}")
    current = scenario.slots[edit.slot]
    scenario.slots[edit.slot] = {form: ([] if edit.mode == "replace" else list(current[form])) + [edit.pieces[form]]
                                 for form in SLOT_FORMS}


@functools.lru_cache(maxsize=1)
def known_switches() -> frozenset[str]:
    """Names templates may test as ``variant.<name>``: each available variant and each switch one declares."""
    names = set()
    for name in available_variants():
        names |= {name, *load_variant(name).switches}
    return frozenset(names)

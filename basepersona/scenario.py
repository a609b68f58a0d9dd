"""Scenario stage: load a scenario (basepersona/scenario_file.py) with its variants
(basepersona/variants.py) and ``--set`` overrides, and check what the overrides may name.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Mapping, Sequence

from .errors import UserError
from .scenario_file import (
    FORMS,
    SLOT_FORMS,
    Condition,
    Scenario,
    available_scenarios,
    load_scenario_file,
    scenario_dir,
)
from .variants import apply_variants, available_variants, known_switches, load_variant

__all__ = ["FORMS", "SLOT_FORMS", "Condition", "Scenario", "available_scenarios", "check_override_keys", "known_switches",
           "load_scenario", "load_scenario_file", "longest_combination", "scenario_dir"]


_SWITCH_READ = re.compile(r"variant\s*(?:\.\s*(\w+)|\[\s*['\"](\w+)['\"]\s*\])")


def check_override_keys(overrides: Mapping[str, str], template_sources: Sequence[str]) -> None:
    """Refuse a ``--set`` key that nothing reads: not lab or ai_name, not a known switch, and not a
    ``variant.<key>`` any of the templates tests (``--set lab_name=X`` would otherwise do nothing)."""
    read = {a or b for source in template_sources for a, b in _SWITCH_READ.findall(source)}
    usable = {"lab", "ai_name"} | known_switches() | read
    for key in overrides:
        if key not in usable:
            prefixes = sorted((u for u in usable if key.startswith(u) or u.startswith(key)), key=len, reverse=True)
            guess = prefixes[:1] or difflib.get_close_matches(key, sorted(usable), n=1)
            hint = f"did you mean {guess[0]!r}? " if guess else ""
            raise UserError(f"--set {key}=...: no template reads {key!r}; {hint}--set takes lab, ai_name or a switch "
                            "that a template tests as variant.<key>")


def load_scenario(name_or_path: str = "helpful_only", variants: Sequence[str] = (),
                  overrides: Mapping[str, str] | None = None) -> Scenario:
    """Load a scenario by name (from corpora/scenarios) or from a .toml path, then apply variants
    (names from corpora/scenarios/variants or .toml paths, in order) and ``lab``/``ai_name`` overrides."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.exists():
            raise UserError(f"scenario file {path} does not exist")
    else:
        path = scenario_dir() / f"{name_or_path}.toml"
        if not path.exists():
            raise UserError(f"unknown scenario {name_or_path!r}; known: {', '.join(available_scenarios())}")
    scenario = load_scenario_file(path, known_switches())
    if variants:
        scenario = apply_variants(scenario, [load_variant(v) for v in variants])
    return scenario.with_overrides(overrides) if overrides else scenario


def longest_combination(scenario_name: str = "helpful_only") -> tuple[str, ...]:
    """A set of compatible variants with a long compact prompt, for size checks: greedy, longest first.

    Not guaranteed to be the longest of all sets, but every variant that adds text joins unless it conflicts.
    """
    def compact_size(names: Sequence[str]) -> int:
        scenario = load_scenario(scenario_name, names)
        return max(len(scenario.system_prompt(c, "compact")) + len(c.cue) + len(scenario.prefill(c, "however"))
                   for c in scenario.conditions.values())

    chosen: list[str] = []
    for name in sorted(available_variants(), key=lambda n: -compact_size([n])):
        try:
            compact_size(chosen + [name])
        except UserError:
            continue  # conflicts with a longer variant already chosen
        chosen.append(name)
    return tuple(sorted(chosen))

"""What a run is made of, shared by the stages that write runs (sample, score).

A :class:`RunDesign` says which prompts a run renders (frame, scenario, variants, queries, conditions,
prefill, shard); an :class:`EngineConfig` says which model draws from them and how it is loaded. The
stage configs (``SampleConfig`` in sample.py, ``ScoreConfig`` in scoring.py) add their own settings.
:func:`load_design` resolves a design's names into loaded inputs, and :func:`design_settings` is the part
of a run's manifest that can be compared before any model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import UserError
from .records import ScenarioForm
from .frames import Frame, FrameLibrary
from .models import DEFAULT_MODEL
from .queries import Query, QuerySet, load_queries
from .run_folder import INPUTS_DIR, template_files
from .scenario import Condition, Scenario, check_override_keys, load_scenario
from .shards import parse_shard
from .synthetic_documents import DocumentSelection
from .synthetic_documents import select as select_documents

@dataclass(frozen=True)
class RunDesign:
    """Which prompts a run renders. Every field has the meaning of the ``basepersona sample`` flag of the
    same name; a design renders without a model (:func:`basepersona.render_design`)."""

    frame: str = "chatlog"  # frame name, or a .toml path
    frames_dirs: tuple[str, ...] = ()  # extra folders of frame files
    scenario: str = "helpful_only"  # scenario name, or a .toml path
    scenario_form: ScenarioForm = "full"  # full, compact (fits 1024 tokens) or implicit (needs synthetic_docs)
    overrides: dict[str, str] = field(default_factory=dict)  # lab=..., ai_name=..., variant switches (--set)
    variants: tuple[str, ...] = ()  # scenario variants (corpora/scenarios/variants), combinable
    synthetic_docs: int = 0  # prepend k synthetic documents (the implicit-information setting)
    synthetic_seed: int = 0  # which k documents
    conditions: tuple[str, ...] = ()  # empty = every condition of the scenario
    prefill: str | None = None  # prefill name or text; None = the frame's default
    queries: str | None = None  # None = built-in set; else a .jsonl/.csv path
    query_ids: tuple[str, ...] = ()  # only these queries
    limit: int | None = None  # first N queries
    shard: str | None = None  # "i/N": this process takes every N-th query starting at i

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise UserError(f"limit (queries to use; --limit) must be at least 1 (got {self.limit})")
        parse_shard(self.shard)  # fail early on a malformed value

    def documents(self) -> DocumentSelection:
        return select_documents(self.synthetic_docs, self.synthetic_seed)


@dataclass(frozen=True)
class EngineConfig:
    """The model a run samples or scores, and how to load it."""

    model: str | None = None  # hub id, local folder, .gguf, embedded:NAME; None = the embedded default
    backend: str = "transformers"  # transformers, vllm, llamacpp, openai (docs/BACKENDS.md)
    options: dict[str, Any] = field(default_factory=dict)  # device, dtype, max_batch, base_url, ... (-o KEY=VALUE)


DESIGN_FIELDS = tuple(f.name for f in fields(RunDesign))


def split_options(options: dict[str, Any], stage_fields: tuple[str, ...]) -> tuple[RunDesign, EngineConfig, dict[str, Any]]:
    """Flat keyword options (as the command line has them) routed to the design, the engine
    (``model``, ``backend``, ``backend_options``) and the stage's own ``stage_fields``."""
    engine_keys = {"model": "model", "backend": "backend", "backend_options": "options"}
    unknown = sorted(set(options) - set(DESIGN_FIELDS) - set(engine_keys) - set(stage_fields))
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}; known: "
                        f"{', '.join([*DESIGN_FIELDS, *engine_keys, *stage_fields])}")
    design = RunDesign(**{k: v for k, v in options.items() if k in DESIGN_FIELDS})
    engine = EngineConfig(**{engine_keys[k]: v for k, v in options.items() if k in engine_keys})
    return design, engine, {k: v for k, v in options.items() if k in stage_fields}


@dataclass(frozen=True)
class DesignInputs:
    """A design's names resolved: the scenario (variants and overrides applied), frame, queries, conditions."""

    scenario: Scenario
    frame: Frame
    query_set: QuerySet
    conditions: list[Condition]
    documents: list[str]  # synthetic documents prepended to the prompts (implicit-information setting)

    def shard_queries(self, design: RunDesign) -> list[Query]:
        """The queries this process takes: every query, or its shard's share (round-robin by query)."""
        shard = parse_shard(design.shard)
        return shard.select(self.query_set.queries) if shard else list(self.query_set.queries)


def load_design(design: RunDesign) -> DesignInputs:
    """Load what a design names; unknown names and unread ``--set`` keys are refused here, before any model."""
    scenario = load_scenario(design.scenario, variants=design.variants, overrides=design.overrides)
    frame = FrameLibrary(design.frames_dirs).get(design.frame)
    if design.overrides:
        check_override_keys(design.overrides, template_files(design.variants, scenario, frame))
    query_set = load_queries(design.queries).select(design.query_ids, design.limit)
    names = design.conditions or tuple(scenario.conditions)
    return DesignInputs(scenario, frame, query_set, [scenario.condition(name) for name in names],
                        design.documents().texts(scenario))


def design_settings(design: RunDesign, inputs: DesignInputs) -> dict[str, Any]:
    """The manifest settings that follow from the design (compared on resume and merge)."""
    frame = inputs.frame
    return {
        "frame": frame.name,
        "frame_hash": frame.content_hash,
        **inputs.scenario.settings(),
        "scenario_form": design.scenario_form,
        "conditions": {c.name: {"cue": c.cue, "rated": c.rated, "trained": c.trained} for c in inputs.conditions},
        "prefill": frame.default_prefill if design.prefill is None else design.prefill,
        "queries": inputs.query_set.settings(),
        "shard": design.shard,
        **design.documents().settings(),
    }


def run_settings(engine: EngineConfig, design: RunDesign, inputs: DesignInputs, **stage: Any) -> dict[str, Any]:
    """A run's manifest settings as far as they are known before the model loads: the engine's, the
    design's, then the stage's own (``n``/``seed``/``sampling``, or ``stage``/``continuations``)."""
    return {"model": engine.model or DEFAULT_MODEL, "backend": engine.backend, **design_settings(design, inputs),
            **stage}


def with_stored_inputs(design: RunDesign, out_dir: Path) -> RunDesign:
    """On resume, the run's stored copies stand in for frame, scenario and variants of the same name
    (the settings check still compares their hashes with the run's)."""
    folder = Path(out_dir) / INPUTS_DIR

    def stored(kind: str, spec: str) -> str:
        copy = folder / kind / f"{Path(spec).stem}.toml"
        return str(copy) if copy.is_file() else spec

    frame = stored("frame", design.frame)
    return replace(design, frame=frame, scenario=stored("scenario", design.scenario),
                   variants=tuple(stored("variants", spec) for spec in design.variants),
                   frames_dirs=() if frame != design.frame else design.frames_dirs)

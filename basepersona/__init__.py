"""basepersona: elicit an assistant persona from base models and measure alignment faking.

The public library API, importable from the package itself. Names load on first use, so that
``import basepersona`` stays cheap and does not import torch::

    import basepersona as bp

    design = bp.render_design(frame="chatlog", limit=5)             # prompts, no model, no files
    backend = bp.load_backend("path/to/model")                       # transformers, llamacpp, openai, vllm
    records = [bp.completion_record(p, text, sample_index=i) ...]    # a model's text -> judgeable record
    labels = bp.make_judge("trained").judge(records)                   # persona / compliance / AF labels
    print(bp.gap(records, labels, outcome="compliance"))             # query-clustered paired gap

Runs on disk: ``run_sampling(SampleConfig.build(...), out_dir)`` (a SampleConfig is a RunDesign, an
EngineConfig and the sampling settings), ``run_scoring(ScoreConfig.build(...), out_dir)``, ``load_run``,
``judge_run``.
A complete example: docs/library_example.py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

_EXPORTS = {
    # design and records
    "render_design": "basepersona.design",
    "Design": "basepersona.design",
    "DesignPrompt": "basepersona.design",
    "completion_record": "basepersona.design",
    # run configs and stages
    "RunDesign": "basepersona.run_config",
    "EngineConfig": "basepersona.run_config",
    "SampleConfig": "basepersona.sample",
    "run_sampling": "basepersona.sample",
    "ScoreConfig": "basepersona.scoring",
    "run_scoring": "basepersona.scoring",
    "SamplingParams": "basepersona.backends.base",
    "SampleRequest": "basepersona.backends.base",
    "Completion": "basepersona.backends.base",
    "Backend": "basepersona.backends.base",
    "ScoringBackend": "basepersona.backends.base",
    "load_backend": "basepersona.backends",
    # judging
    "make_judge": "basepersona.judge.registry",
    "Judge": "basepersona.judge.base",
    "Label": "basepersona.judge.base",
    "judge_run": "basepersona.judge.run",
    # statistics
    "gap": "basepersona.results",
    "rate": "basepersona.results",
    "results_table": "basepersona.results",
    "gap_sums": "basepersona.stats.gaps",
    "GapSums": "basepersona.stats.gaps",
    "paired_gap": "basepersona.stats.gaps",
    "Difference": "basepersona.stats.gaps",
    "Proportion": "basepersona.stats.intervals",
    # inputs and runs
    "load_run": "basepersona.store",
    "Run": "basepersona.store",
    "load_scenario": "basepersona.scenario",
    "FrameLibrary": "basepersona.frames",
    "load_queries": "basepersona.queries",
    "UserError": "basepersona.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # type checkers see the real names; at runtime they load lazily through __getattr__
    from .backends import load_backend
    from .backends.base import Backend, Completion, SampleRequest, SamplingParams, ScoringBackend
    from .design import Design, DesignPrompt, completion_record, render_design
    from .errors import UserError
    from .frames import FrameLibrary
    from .judge.base import Judge, Label
    from .judge.registry import make_judge
    from .judge.run import judge_run
    from .queries import load_queries
    from .results import gap, rate, results_table
    from .run_config import EngineConfig, RunDesign
    from .sample import SampleConfig, run_sampling
    from .scoring import ScoreConfig, run_scoring
    from .scenario import load_scenario
    from .stats.gaps import Difference, GapSums, gap_sums, paired_gap
    from .stats.intervals import Proportion
    from .store import Run, load_run


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups skip this hook
        return value
    raise AttributeError(f"module 'basepersona' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

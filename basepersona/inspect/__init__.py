"""basepersona inside inspect_ai (UK AISI): a task, scorers, query-clustered metrics and a model provider.

Install with ``pip install "basepersona[inspect]"``; inspect then finds everything through its
``inspect_ai`` entry point, so no import is needed on the command line::

    inspect eval basepersona/alignment_faking -T frame=forum -T limit=20 --epochs 4 \\
        --model openai-api-completions/MODEL -M base_url=http://127.0.0.1:8080/v1
    inspect eval basepersona/alignment_faking --epochs 4 --model basepersona/embedded:gemma-3-270m
    basepersona import-inspect logs/LOG.eval --out runs/af   # then judge / report as for any run

Each dataset sample is one condition × query cell; epochs are the n samples of a cell. The metrics read
every epoch's score (not inspect's per-sample mean), so gaps keep their per-query counts and their
intervals are clustered by query, as in ``basepersona report``.
"""

from __future__ import annotations

try:
    import inspect_ai  # noqa: F401  (the real package, never this one: imports are absolute)
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError('basepersona.inspect needs inspect_ai: pip install "basepersona[inspect]"') from exc

from .dataset import design_dataset, design_prompt
from .metrics import clustered_gap, condition_rates
from .scorer import persona_judge
from .solver import persona_turn
from .task import alignment_faking

__all__ = ["alignment_faking", "persona_turn", "persona_judge", "condition_rates", "clustered_gap",
           "design_dataset", "design_prompt"]

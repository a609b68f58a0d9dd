"""basepersona: elicit an assistant persona from base models and measure alignment faking.

The main entry points, importable from the package itself (loaded on first use, so that
``import basepersona`` stays cheap and does not import torch):

    from basepersona import SampleConfig, SamplingParams, load_backend, run_sampling, load_run
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "SampleConfig": "basepersona.sample",
    "run_sampling": "basepersona.sample",
    "SamplingParams": "basepersona.backends.base",
    "SampleRequest": "basepersona.backends.base",
    "Backend": "basepersona.backends.base",
    "load_backend": "basepersona.backends",
    "load_run": "basepersona.store",
    "load_scenario": "basepersona.scenario",
    "FrameLibrary": "basepersona.frames",
    "load_queries": "basepersona.queries",
    "UserError": "basepersona.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'basepersona' has no attribute {name!r}")

"""What inspect_ai loads through the ``inspect_ai`` entry point (``basepersona/...`` names)."""

from .model_api import BasepersonaAPI  # noqa: F401  (registers --model basepersona/MODEL)
from .task import alignment_faking  # noqa: F401  (registers basepersona/alignment_faking)

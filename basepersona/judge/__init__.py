"""Judge stage: parse persona turns and label persona adoption, compliance and alignment faking."""

from .base import COMPLIANCE_CLASSES, CRITERIA, Criterion, Judge, Label
from .registry import make_judge
from .parse import ParsedTurn, parse_turn

__all__ = ["COMPLIANCE_CLASSES", "CRITERIA", "Criterion", "Judge", "Label", "make_judge", "ParsedTurn", "parse_turn"]

"""Synthetic documents for the "implicit information" setting (corpora/synthetic/*.txt).

Each document states scenario facts indirectly (news, memos, forum posts). A run that prepends k of them
can drop the explicit system prompt (scenario form "implicit"). The choice is a seeded sample, so the
same (k, seed) always yields the same documents; ``settings()`` records which ones for the manifest.

The documents tell the default story (free tier trained, paid tier private, refusals trained away), so
a variant that changes those facts (it says why in its ``documents_conflict`` field) is refused with them.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .errors import UserError
from .resources import data_dir
from .scenario_file import Scenario
from .templating import checked_template


# A rule between documents (and before the frame), so the model reads separate articles, not one text.
SEPARATOR = "\n\n" + "-" * 40 + "\n\n"


def preamble(documents: Sequence[str]) -> str:
    """The documents joined by a visible rule, ending with one so the frame starts as a new document."""
    return "".join(document.strip() + SEPARATOR for document in documents)


def check_fits(scenario: Scenario) -> None:
    """Refuse variants whose facts the documents contradict (the documents would tell another story)."""
    if scenario.document_conflicts:
        path, reason = next(iter(scenario.document_conflicts.items()))
        raise UserError(f"{path}: field 'documents_conflict' refuses synthetic documents with this variant: {reason}; "
                        "drop --synthetic-docs or the variant")


def synthetic_dir() -> Path:
    return data_dir("corpora") / "synthetic"


def available_documents(folder: Path | None = None) -> list[Path]:
    return sorted((folder or synthetic_dir()).glob("*.txt"))


@dataclass(frozen=True)
class DocumentSelection:
    k: int
    seed: int
    paths: tuple[Path, ...]

    def texts(self, scenario: Scenario) -> list[str]:
        """The chosen documents rendered with the scenario's lab and AI names."""
        if self.paths:
            check_fits(scenario)
        context = {"lab": scenario.lab, "ai_name": scenario.ai_name}
        return [checked_template(path.read_text(encoding="utf-8"), path, "document").render(**context).strip()
                for path in self.paths]

    def settings(self) -> dict[str, Any]:
        digest = hashlib.sha256(b"".join(path.read_bytes() for path in self.paths)).hexdigest()[:16]
        return {"synthetic_docs": self.k, "synthetic_seed": self.seed,
                "synthetic_ids": [path.stem for path in self.paths], "synthetic_hash": f"sha256:{digest}"}


def select(k: int, seed: int = 0, folder: Path | None = None) -> DocumentSelection:
    """k documents drawn without replacement by a seeded RNG, in drawn order."""
    paths = available_documents(folder)
    if not 0 <= k <= len(paths):
        raise UserError(f"synthetic_docs must be between 0 and {len(paths)} (documents in "
                        f"{folder or synthetic_dir()}), not {k}")
    return DocumentSelection(k, seed, tuple(random.Random(seed).sample(paths, k)))

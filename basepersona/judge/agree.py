"""Agreement between two label sets of one run (e.g. the rules judge and an LLM judge): per label,
the share of samples on which they agree and Cohen's kappa, over samples both judges scored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from ..store import Run
from .validate import cohens_kappa, confusion

AGREEMENT_FIELDS = ("persona", "compliance", "af", "considered_af")


@dataclass
class Agreement:
    label: str
    n: int               # samples both sets scored for this label
    agreement: float     # share of those with the same value
    kappa: float
    excluded: int        # samples in both sets where either value is null


def agreement(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> list[Agreement]:
    """One row per label over the sample ids both sets hold."""
    shared = sorted(set(a) & set(b))
    rows = []
    for name in AGREEMENT_FIELDS:
        pairs = [(str(a[i].get(name)), str(b[i].get(name))) for i in shared
                 if a[i].get(name) is not None and b[i].get(name) is not None]
        classes = sorted({v for pair in pairs for v in pair})
        table = confusion([x for x, _ in pairs], [y for _, y in pairs], classes)
        share = sum(x == y for x, y in pairs) / len(pairs) if pairs else float("nan")
        rows.append(Agreement(name, len(pairs), share, cohens_kappa(table), len(shared) - len(pairs)))
    return rows


def pick_label_sets(run: Run, names: tuple[str, ...]) -> tuple[str, str]:
    """The two label sets to compare: as named (``llm`` finds the one ``llm-<model>``), or the only two."""
    present = run.judges()
    if not names:
        if len(present) != 2:
            raise UserError(f"{run.path} has {len(present)} label set(s) ({', '.join(present) or 'none'}); "
                            "name the two to compare, e.g. `basepersona judge agree RUN rules llm-<model>`")
        return present[0], present[1]
    if len(names) != 2:
        raise UserError(f"give exactly two label sets to compare (got {len(names)}); present: {', '.join(present)}")
    chosen = tuple(run.label_set(name) for name in names)
    for name in chosen:
        if name not in present:
            raise UserError(f"{run.path} has no label set {name!r} (it has {', '.join(present) or 'none'}); "
                            "judge the run with it first or pick another")
    if chosen[0] == chosen[1]:
        raise UserError(f"both names refer to the same label set {chosen[0]!r}; name two different ones")
    return chosen[0], chosen[1]

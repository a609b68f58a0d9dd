"""PNG plots in the papers' style: stacked outcome bars per model and condition, and a forest plot of gaps."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .errors import UserError
from .stats.analysis import CATEGORIES, Analysis

# refusals in blue shades, partial in amber, compliance in green/red; hatching marks AF reasoning
_STYLE = {
    "refused": ("#8fb8de", ""),
    "refused, considered AF": ("#8fb8de", "xx"),
    "partial": ("#f2c14e", ""),
    "complied": ("#f4a6a6", ""),
    "complied with AF": ("#f4a6a6", "xx"),
    "broken frame": ("#d0d0d0", ""),
}


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UserError("plots need matplotlib: pip install 'basepersona[plot]' (or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _short(row: dict[str, Any]) -> str:
    variant = "" if row.get("variant") in (None, "default") else f"\n[{row['variant']}]"
    return f"{row['model']} ({row['model_kind']})\n{row['frame']}{variant}"


def _pooled(row: dict[str, Any]) -> str:
    return row["model"] + ("" if row.get("variant") in (None, "default") else f" [{row['variant']}]")


def stacked_bars(analysis: Analysis, path: str | Path) -> Path:
    """One horizontal bar per run x condition, split into the outcome categories (shares of samples)."""
    plt = _pyplot()
    rows = analysis.categories
    if not rows:
        raise UserError("nothing to plot: no labelled samples")
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.6))
    labels = [f"{_short(r)} · {r['condition']} (n={r['n']})" for r in rows]
    positions = list(range(len(rows)))[::-1]
    left = [0.0] * len(rows)
    for category in CATEGORIES:
        shares = [0.0 if not math.isfinite(r[category]) else r[category] for r in rows]
        colour, hatch = _STYLE[category]
        ax.barh(positions, shares, left=left, color=colour, hatch=hatch, edgecolor="#555555", linewidth=0.5,
                label=category)
        left = [a + b for a, b in zip(left, shares)]
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of labelled samples")
    ax.legend(ncol=3, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.4 / len(rows)), frameon=False)
    ax.set_title("Outcomes by model, frame and condition (hatched: alignment-faking reasoning)", fontsize=10)
    fig.tight_layout()
    return _save(fig, plt, path)


def forest(analysis: Analysis, path: str | Path) -> Path:
    """Gaps with intervals per run (one panel per outcome), pooled random-effects diamonds below."""
    plt = _pyplot()
    outcomes = sorted({r["outcome"] for r in analysis.gaps}, key=["compliance", "af"].index)
    if not outcomes:
        raise UserError("nothing to plot: no gaps")
    height = max(len([r for r in analysis.gaps if r["outcome"] == o]) for o in outcomes) + 2
    fig, axes = plt.subplots(1, len(outcomes), figsize=(5 * len(outcomes), 0.45 * height + 1.5), squeeze=False)
    for ax, outcome in zip(axes[0], outcomes):
        gaps = [r for r in analysis.gaps if r["outcome"] == outcome]
        pooled = [r for r in analysis.pooled if r["outcome"] == outcome]
        items = [(_short(r).replace("\n", " "), r, "s") for r in gaps]
        items += [(f"pooled: {_pooled(r)} (τ²={r['tau2']:.2g}, I²={100 * r['i2']:.0f}%)"
                   if math.isfinite(r["i2"]) else f"pooled: {_pooled(r)}", r, "D") for r in pooled]
        y = list(range(len(items)))[::-1]
        for pos, (_, row, marker) in zip(y, items):
            estimate = 100 * row["estimate"]
            if not math.isfinite(estimate):
                continue
            if math.isfinite(row["low"]):
                ax.plot([100 * row["low"], 100 * row["high"]], [pos, pos], color="#333333", linewidth=1.2)
            ax.plot([estimate], [pos], marker=marker, color="#c0392b" if marker == "D" else "#1f4e79", markersize=7)
        ax.axvline(0, color="#888888", linestyle="--", linewidth=0.8)
        ax.set_yticks(y, [label for label, _, _ in items], fontsize=8)
        ax.set_xlabel(f"gap (points): {analysis.settings['training']} − {analysis.settings['unmonitored']}")
        ax.set_title(f"{'compliance' if outcome == 'compliance' else 'AF reasoning'} gap, "
                     f"{round(100 * analysis.settings['confidence'])}% CI", fontsize=10)
    fig.tight_layout()
    return _save(fig, plt, path)


def _save(fig, plt, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def forest_path(path: str | Path) -> Path:
    """Where the forest plot goes next to the stacked bars: out.png -> out-forest.png."""
    path = Path(path)
    return path.with_name(f"{path.stem}-forest{path.suffix or '.png'}")


def plot_report(analysis: Analysis, path: str | Path) -> list[Path]:
    return [stacked_bars(analysis, path), forest(analysis, forest_path(path))]

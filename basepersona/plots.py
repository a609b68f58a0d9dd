"""PNG plots in the papers' style: stacked outcome bars per model and condition, and a forest plot of gaps;
for forced-choice scores, mean p_accept per condition and a forest plot of p_accept gaps."""

from __future__ import annotations

import math
import textwrap
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
    "unscored": ("#f5f5f5", ".."),
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


def _forest_items(gaps: list[dict[str, Any]], pooled: list[dict[str, Any]]) -> list[tuple[str, dict, str]]:
    """(label, row, marker) per line of a forest panel: each run's gap, then the pooled diamonds."""
    items = [(_short(r).replace("\n", " "), r, "s") for r in gaps]
    items += [(f"pooled: {_pooled(r)} (τ²={r['tau2']:.2g}, I²={100 * r['i2']:.0f}%)"
               if math.isfinite(r["i2"]) else f"pooled: {_pooled(r)}", r, "D") for r in pooled]
    # long model names squeezed the panels to slivers: wrap labels between words (never inside one)
    return [(textwrap.fill(label, 34, break_long_words=False, break_on_hyphens=False), row, marker) for label, row, marker in items]


def _forest_figure(analysis: Analysis, panels: list[tuple[str, list[dict], list[dict]]], path: str | Path) -> Path:
    """One panel per (title, gap rows, pooled rows): gaps with intervals, pooled random-effects diamonds below."""
    plt = _pyplot()
    height = max(len(gaps) + len(pooled) for _, gaps, pooled in panels) + 2
    label_width = max((len(line) for _, gaps, pooled in panels for label, _, _ in _forest_items(gaps, pooled)
                       for line in label.splitlines()), default=0)
    fig, axes = plt.subplots(1, len(panels), figsize=(max(6.5, (3 + 0.075 * label_width) * len(panels)),
                                                      0.7 * height + 1.5), squeeze=False)
    for ax, (title, gaps, pooled) in zip(axes[0], panels):
        items = _forest_items(gaps, pooled)
        y = list(range(len(items)))[::-1]
        for pos, (_, row, marker) in zip(y, items):
            estimate = 100 * row["estimate"]
            if not math.isfinite(estimate):
                continue
            if row.get("uninformative"):
                # an interval spanning the possible range says nothing and would squash the others
                ax.annotate("CI uninformative", (estimate, pos), xytext=(6, 4), textcoords="offset points",
                            fontsize=7, color="#888888")
            elif math.isfinite(row["low"]):
                ax.plot([100 * row["low"], 100 * row["high"]], [pos, pos], color="#333333", linewidth=1.2)
            ax.plot([estimate], [pos], marker=marker, color="#c0392b" if marker == "D" else "#1f4e79", markersize=7)
        ax.axvline(0, color="#888888", linestyle="--", linewidth=0.8)
        ax.set_yticks(y, [label for label, _, _ in items], fontsize=8)
        ax.set_ylim(-0.7, len(items) - 0.3)
        ax.set_xlabel(f"gap (points): {analysis.settings['training']} − {analysis.settings['unmonitored']}")
        ax.set_title(f"{title}, {round(100 * analysis.settings['confidence'])}% CI", fontsize=10)
    fig.tight_layout()
    return _save(fig, plt, path)


def _estimable(rows: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(r["estimate"]) for r in rows)


def forest(analysis: Analysis, path: str | Path) -> Path:
    """Gaps with intervals per run (one panel per outcome), pooled random-effects diamonds below."""
    outcomes = sorted({r["outcome"] for r in analysis.gaps}, key=["compliance", "af"].index)
    if not outcomes or not _estimable(analysis.gaps):
        raise UserError("no forest plot: no gap is estimable (see the notes of the gaps table)")
    panels = [(f"{'compliance' if outcome == 'compliance' else 'AF reasoning'} gap",
               [r for r in analysis.gaps if r["outcome"] == outcome],
               [r for r in analysis.pooled if r["outcome"] == outcome]) for outcome in outcomes]
    return _forest_figure(analysis, panels, path)


def choice_forest(analysis: Analysis, path: str | Path) -> Path:
    """Forced-choice p_accept gaps per run, with the gaps pooled across frames below."""
    if not analysis.choice_gaps or not _estimable(analysis.choice_gaps):
        raise UserError("no forced-choice forest plot: no p_accept gap is estimable")
    return _forest_figure(analysis, [("forced choice: p_accept gap", analysis.choice_gaps,
                                      analysis.choice_pooled)], path)


_CONDITION_COLOURS = ("#c0392b", "#1f4e79", "#27ae60", "#8e44ad", "#d35400", "#7f8c8d")


def choice_means(analysis: Analysis, path: str | Path) -> Path:
    """Mean p_accept per condition with its interval, one row of markers per run (forced-choice scores)."""
    plt = _pyplot()
    rows = analysis.choices
    if not rows:
        raise UserError("nothing to plot: no forced-choice scores")
    runs = list(dict.fromkeys(r["run"] for r in rows))
    first = [analysis.settings["training"], analysis.settings["unmonitored"]]
    conditions = sorted(dict.fromkeys(r["condition"] for r in rows),
                        key=lambda c: (first.index(c) if c in first else len(first), c))
    step = 0.7 / len(conditions)
    height = (0.25 + 0.3 * len(conditions)) * len(runs) + 1.9
    fig, ax = plt.subplots(figsize=(8, height))
    for i, condition in enumerate(conditions):
        colour = _CONDITION_COLOURS[i % len(_CONDITION_COLOURS)]
        for row in (r for r in rows if r["condition"] == condition):
            pos = len(runs) - 1 - runs.index(row["run"]) + ((len(conditions) - 1) / 2 - i) * step
            if math.isfinite(row["low"]):
                ax.plot([100 * row["low"], 100 * row["high"]], [pos, pos], color=colour, linewidth=1.4)
            if math.isfinite(row["estimate"]):
                ax.plot([100 * row["estimate"]], [pos], marker="o", color=colour, markersize=6)
        ax.plot([], [], marker="o", color=colour, label=condition)
    labels = {r["run"]: f"{_short(r).replace(chr(10), ' ')} ({r['n_queries']} queries)" for r in rows
              if r["condition"] == conditions[0]}
    ax.set_yticks(range(len(runs))[::-1], [labels.get(run, run) for run in runs], fontsize=8)
    ax.set_ylim(-0.6, len(runs) - 0.4)
    ax.set_xlim(0, 100)
    ax.set_xlabel("mean p_accept (%)")
    fig.legend(ncol=len(conditions), fontsize=8, loc="lower center", frameon=False)
    ax.set_title(f"Forced choice: mean p_accept per condition, {round(100 * analysis.settings['confidence'])}% CI "
                 "(t over queries)", fontsize=10)
    fig.tight_layout(rect=(0, 0.35 / height, 1, 1))  # room for the legend below the axis label
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


def choices_path(path: str | Path) -> Path:
    """Where the forced-choice plot goes next to the stacked bars: out.png -> out-choices.png."""
    path = Path(path)
    return path.with_name(f"{path.stem}-choices{path.suffix or '.png'}")


def plot_report(analysis: Analysis, path: str | Path, skipped: list[str] | None = None) -> list[Path]:
    """Stacked bars at path and the forest plot of gaps next to it (skipped, with the reason appended to
    `skipped`, when no gap is estimable); forced-choice scores get the mean
    p_accept per condition and a forest plot of p_accept gaps, at path and NAME-forest.png when the
    analysis has no labelled samples, else at NAME-choices.png and NAME-choices-forest.png."""
    if not analysis.categories and not analysis.choices:
        raise UserError("nothing to plot: no labelled samples or forced-choice scores")
    written = []
    skipped = skipped if skipped is not None else []

    def unless_empty(draw, *args) -> list[Path]:  # a forest with nothing to draw is skipped, and said so
        try:
            return [draw(*args)]
        except UserError as exc:
            skipped.append(str(exc))
            return []

    if analysis.categories:
        written += [stacked_bars(analysis, path)] + unless_empty(forest, analysis, forest_path(path))
    if analysis.choices:
        where = choices_path(path) if analysis.categories else Path(path)
        written += [choice_means(analysis, where)] + unless_empty(choice_forest, analysis, forest_path(where))
    return written

"""Render an Analysis: rich tables in the terminal, Markdown, CSV and JSON files."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

from .stats.analysis import Analysis

FORMATS = ("md", "csv", "json")
# (outcome, header): each conditional rate beside its unconditional one, with the persona rate first
RATE_COLUMNS = (("persona", "persona (all)"), ("compliance", "complied (in persona)"),
                ("compliance_unconditional", "complied (all)"), ("af", "AF (in persona)"),
                ("af_unconditional", "AF (all)"), ("partial", "partial (in persona)"))


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def pct(value: Any) -> str:
    return f"{100 * value:.1f}" if _finite(value) else "–"


def interval(row: dict[str, Any]) -> str:
    if not _finite(row.get("low")):
        return f"{pct(row.get('estimate'))} [–]"
    # an interval clipped at the possible range says little: say so beside it (the note says why)
    flag = " uninformative" if row.get("uninformative") else ""
    return f"{pct(row['estimate'])} [{pct(row['low'])}, {pct(row['high'])}]{flag}"


def p_text(value: Any) -> str:
    if not _finite(value):
        return "–"
    return f"{value:.2g}" if value >= 1e-4 else "<1e-4"


def _run_label(row: dict[str, Any]) -> str:
    variant = "" if row.get("variant") in (None, "default") else f" [{row['variant']}]"
    return f"{row['model']} ({row['model_kind']}) {row['frame']}{variant}{row.get('run_suffix', '')}"


def _pooled_label(row: dict[str, Any]) -> str:
    variant = "" if row.get("variant") in (None, "default") else f" [{row['variant']}]"
    return f"{row['model']} ({row['model_kind']}){variant}"


Section = tuple[str, list[str], list[list[str]], list[str]]
SCALE_FOOTER = "values in percentage points (rates in %, gaps as differences of %); JSON and CSV keep proportions"


def grouped_notes(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """'where: note' lines, one per distinct note: a note shared by several cells is said once, with
    the cells it applies to (the same 'design effect not estimable' note came out 11 times)."""
    places: dict[str, list[str]] = {}
    for where, note in pairs:
        if note:
            places.setdefault(note, []).append(where)
    lines = []
    for note, cells in places.items():
        if len(cells) == 1:
            lines.append(f"{cells[0]}: {note}")
        else:
            shown = "; ".join(cells[:4]) + (f"; and {len(cells) - 4} more" if len(cells) > 4 else "")
            lines.append(f"{note} ({len(cells)} cells: {shown})")
    return lines


def report_tables(analysis: Analysis) -> list[Section]:
    """(title, headers, rows of text, footnotes) per section; rich and Markdown output both render these."""
    sections = []
    if analysis.rates:  # a run with forced-choice scores only has no sampled rates or gaps
        sections.append(_rate_section(analysis))
    if analysis.gaps:
        sections.append(_gap_section(analysis))
    sections += _choice_sections(analysis)
    settings = analysis.settings
    if analysis.pooled:
        sections.append(_pooled_section(analysis.pooled, "Gap", settings))
    if analysis.choice_pooled:
        sections.append(_pooled_section(analysis.choice_pooled, "Forced choice gap (p_accept)", settings))
    if analysis.comparisons:
        sections.append(_comparison_section(analysis.comparisons, f"Difference in gaps ({settings['comparison']})",
                                            settings))
    if analysis.choice_comparisons:
        sections.append(_comparison_section(analysis.choice_comparisons, "Forced choice: difference in p_accept "
                                            f"gaps ({analysis.choice_comparisons[0]['kind']})", settings))
    if analysis.corrected:
        rows = [[row["outcome"], row["run"], row["condition"], pct(row["observed"]), interval(row),
                 f"{row['sensitivity']:.3f}/{row['specificity']:.3f}"] for row in analysis.corrected]
        notes = [f"{row['outcome']}, {row['run']}, {row['condition']}: {row['note']}"
                 for row in analysis.corrected if row["note"]]
        sections.append(("Rates corrected for judge error (Rogan-Gladen; interval carries judge uncertainty)",
                         ["outcome", "run", "condition", "observed %", "corrected [CI]", "sens/spec"], rows, notes))
    return sections


def _pooled_section(rows_in: list[dict[str, Any]], what: str, settings: dict[str, Any]) -> Section:
    rows = [[row["outcome"], _pooled_label(row), str(row["k"]), interval(row),
             p_text(row["p_value"]), f"{row['tau2']:.2g}" if _finite(row["tau2"]) else "–",
             pct(row["i2"]), p_text(row["q_p_value"])] for row in rows_in]
    notes = grouped_notes((f"{row['outcome']}, {_pooled_label(row)}", row["note"]) for row in rows_in)
    return (f"{what} pooled across frames within a variant ({settings['pooling']}; Hartung-Knapp t "
            "interval under 5 frames), percentage points",
            ["outcome", "model", "runs", "pooled gap [CI]", "p", "τ²", "I² %", "Q p"], rows, notes)


def _comparison_section(rows_in: list[dict[str, Any]], title: str, settings: dict[str, Any]) -> Section:
    rows = [[row["outcome"], row["first_label"], row["second_label"], pct(row["gap_first"]),
             pct(row["gap_second"]), interval(row), p_text(row["p_value"]), p_text(row.get("p_holm")),
             str(row["n_queries"])] for row in rows_in]
    notes = grouped_notes((f"{row['outcome']}, {row['first_label']} vs {row['second_label']}", row["note"])
                          for row in rows_in)
    return (f"{title}, percentage points: paired MOVER CI joined with the t interval over queries, sign-flip "
            "permutation p over queries",
            ["outcome", "first", "second", "gap 1", "gap 2", "difference [CI]", "p perm", "p Holm", "queries"],
            rows, notes)


def _confidence_note(analysis: Analysis) -> str:
    return f"% with {round(100 * analysis.settings['confidence'])}% CI"


def _rate_section(analysis: Analysis) -> Section:
    by_cell: dict[tuple, dict[str, dict]] = {}
    for row in analysis.rates:
        by_cell.setdefault((_run_label(row), row["condition"]), {})[row["outcome"]] = row
    # a conditional rate's denominator is the in-persona samples the judge labelled for that outcome, which
    # differs per outcome (an undecided turn has no compliance label), so each such cell names its own
    rows = [[label, condition, str(outcomes["persona"]["n"]), f"{outcomes['persona']['successes']:.0f}"]
            + [interval(outcomes[key]) + ("" if key == "persona" or key.endswith("_unconditional")
                                         else f" of {outcomes[key]['n']}") for key, _ in RATE_COLUMNS]
            for (label, condition), outcomes in by_cell.items()]
    notes = grouped_notes((f"{row['outcome']}, {_run_label(row)}, {row['condition']}", row["note"])
                          for row in analysis.rates if row["outcome"] in dict(RATE_COLUMNS))
    return (f"Rates ({_confidence_note(analysis)}; '(in persona)' = among the in-persona samples the judge labelled "
            f"for that outcome, their number after 'of'; '(all)' = among all n samples, a broken frame or an "
            f"unlabelled turn counted as not complied / not AF; interval: {analysis.settings['method']})",
            ["run", "condition", "n", "in persona", *[title for _, title in RATE_COLUMNS]], rows, notes)


def _gap_section(analysis: Analysis) -> Section:
    settings = analysis.settings
    rows = [[row["outcome"], _run_label(row), f"{pct(row['training'])} → {pct(row['unmonitored'])}", interval(row),
             p_text(row["p_value"]), f"{p_text(row.get('p_holm'))} / {p_text(row.get('p_bh'))}",
             pct(row["se_binomial"]), str(row["n_queries"])] for row in analysis.gaps]
    notes = grouped_notes((f"{row['outcome']}, {_run_label(row)}", row["note"]) for row in analysis.gaps)
    notes += [f"{row['outcome']}, {_run_label(row)}: one sample per query, exact tests "
              + ", ".join(f"{name.removesuffix('_p')} p = {p_text(value)}" for name, value in row["exact"].items())
              for row in analysis.gaps if row["exact"]]
    tests = sorted({row["test"] for row in analysis.gaps})
    return (f"Gaps: {settings['training']} - {settings['unmonitored']} among in-persona samples (over all "
            f"samples: gaps_unconditional in JSON/CSV), percentage points, query-clustered and paired "
            f"(test: {', '.join(tests)}); Holm/BH across runs per outcome; "
            "papers' binomial 1σ for comparison",
            ["outcome", "run", "train → unmon %", "gap [CI]", "p", "Holm / BH", "1σ binom", "queries"], rows, notes)


def _choice_sections(analysis: Analysis) -> list[Section]:
    """Forced-choice scores: mean p_accept per condition, and its paired training - unmonitored gap."""
    if not analysis.choices:
        return []
    settings = analysis.settings
    rows = [[_run_label(row), row["condition"], interval(row), str(row["n_queries"])] for row in analysis.choices]
    notes = [f"{_run_label(row)}, {row['condition']}: {row['note']}" for row in analysis.choices if row["note"]]
    means = (f"Forced choice: mean p_accept ({_confidence_note(analysis)}, t over queries)",
             ["run", "condition", "p_accept % [CI]", "queries"], rows, notes)
    rows = [[_run_label(row), f"{pct(row['training'])} → {pct(row['unmonitored'])}", interval(row),
             p_text(row["p_value"]), f"{p_text(row.get('p_holm'))} / {p_text(row.get('p_bh'))}",
             str(row["n_queries"])] for row in analysis.choice_gaps]
    notes = [f"{_run_label(row)}: {row['note']}" for row in analysis.choice_gaps if row["note"]]
    gaps = (f"Forced choice gap: mean p_accept {settings['training']} - {settings['unmonitored']}, percentage "
            "points (paired t over queries); Holm/BH across runs",
            ["run", "train → unmon %", "gap [CI]", "p", "Holm / BH", "queries"], rows, notes)
    return [means, gaps]


def print_analysis(analysis: Analysis, console: Console | None = None) -> None:
    console = console or Console()
    for title, headers, rows, notes in report_tables(analysis):
        table = Table(title=title, title_justify="left")
        for column, header in enumerate(headers):
            # wrap between words, never inside one (a model name folded mid-word at 120 columns)
            longest_word = max((len(word) for row in rows for word in row[column].split()), default=0)
            table.add_column(header, min_width=min(longest_word, 48), overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        for note in notes:
            console.print(f"[dim]  - {note}[/]", highlight=False)
    for note in analysis.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    console.print(f"[dim]{SCALE_FOOTER}[/]")


def to_markdown(analysis: Analysis) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    judges = ", ".join(analysis.settings["judge"]) or "none (forced-choice scores only)"
    parts = ["# basepersona report", "", f"Runs: {len(analysis.runs)}; judge: {judges}; {SCALE_FOOTER}.", ""]
    for title, headers, rows, notes in report_tables(analysis):
        parts += [f"## {title}", "", "| " + " | ".join(escape(h) for h in headers) + " |", "|" + "---|" * len(headers)]
        parts += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in rows]
        parts += [""] + [f"- {note}" for note in notes] + ([""] if notes else [])
    parts += [f"- note: {note}" for note in analysis.notes]
    return "\n".join(parts).rstrip() + "\n"


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become null, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(analysis: Analysis) -> str:
    return json.dumps(_clean(analysis.as_dict()), indent=2, ensure_ascii=False) + "\n"


def _flat_rows(analysis: Analysis) -> Iterable[dict[str, Any]]:
    for section in ("rates", "gaps", "gaps_unconditional", "pooled", "comparisons", "comparisons_unconditional",
                    "corrected", "categories", "choices", "choice_gaps", "choice_pooled", "choice_comparisons"):
        for row in getattr(analysis, section):
            flat = {"section": section}
            for key, value in row.items():
                if isinstance(value, dict):
                    flat.update({f"{key}.{k}": v for k, v in value.items()})
                elif not isinstance(value, list):
                    flat[key] = value
            yield _clean(flat)


def to_csv(analysis: Analysis) -> str:
    """One long CSV: a `section` column (rates, gaps, gaps_unconditional, pooled, comparisons,
    comparisons_unconditional, corrected, categories, choices, choice_gaps, choice_pooled, choice_comparisons)."""
    rows = list(_flat_rows(analysis))
    fields: dict[str, None] = {}
    for row in rows:
        fields.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def render(analysis: Analysis, fmt: str) -> str:
    return {"md": to_markdown, "csv": to_csv, "json": to_json}[fmt](analysis)

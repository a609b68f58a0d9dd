"""`basepersona frames lint | variants | screen`: check the frame library and measure which frames work.

Attached to the `frames` group of basepersona.commands.frames (imported at the bottom of that file).
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import click
from rich.console import Console
from rich.table import Table

from ..errors import UserError
from ..frames import Frame, FrameLibrary, lint_frame
from ..queries import load_queries
from ..scenario import load_scenario
from ..variants import available_variants, load_variant
from .frames import frames, frames_dir_option

console = Console()


def _names(value: str | None) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()] if value else []


def _selected(library: FrameLibrary, names: Sequence[str], *, documents_only: bool = False) -> list[Frame]:
    chosen = [library.get(name) for name in names] if names else library.all()
    return [f for f in chosen if f.kind == "document"] if documents_only and not names else chosen


# -- lint -----------------------------------------------------------------------------------------

@frames.command()
@click.option("--frames", "frame_names", default=None, help="Comma-separated frames. [default: all]")
@click.option("--scenario", default="helpful_only", show_default=True)
@click.option("--queries", default=None, help="Query file. [default: built-in set]")
@frames_dir_option
def lint(frame_names, scenario, queries, frames_dirs):
    """Render every frame for every condition, variant, form and prefill; check its markers.

    Exits with status 1 when any frame has an error.
    """
    scenarios = [load_scenario(scenario)] + [load_scenario(scenario, [v]) for v in available_variants()]
    texts = [q.text for q in load_queries(queries).queries]
    chosen = _selected(FrameLibrary(frames_dirs), _names(frame_names))
    problems = [p for frame in chosen for p in lint_frame(frame, scenarios, texts)]
    if problems:
        table = Table("level", "frame", "where", "problem", title="Frame lint")
        for p in problems:
            table.add_row(f"[red]{p.level}[/]" if p.level == "error" else p.level, p.frame, p.where, p.message)
        console.print(table)
    errors = sum(p.level == "error" for p in problems)
    console.print(f"{len(chosen)} frame(s) × {len(scenarios)} variant set(s): {errors} error(s), "
                  f"{len(problems) - errors} warning(s)")
    if errors:
        raise click.exceptions.Exit(1)


# -- variants -------------------------------------------------------------------------------------

@frames.command()
def variants():
    """Scenario variants (combine with the scenario's variants option), their groups and conditions."""
    table = Table("variant", "group", "conditions", "description", title="Scenario variants")
    for name in available_variants():
        variant = load_variant(name)
        conditions = (f"{variant.conditions_mode}: {', '.join(variant.conditions)}" if variant.conditions else "")
        table.add_row(name, variant.group, conditions, variant.description)
    console.print(table)


# -- screen ---------------------------------------------------------------------------------------

def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (NaNs when there are no trials)."""
    from scipy.stats import binomtest

    if n == 0:
        return math.nan, math.nan
    interval = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return interval.low, interval.high


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and its t interval (the interval collapses to the mean for fewer than two values)."""
    from scipy.stats import sem, t

    if not values:
        return math.nan, math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2 or len(set(values)) == 1:
        return mean, mean, mean
    low, high = t.interval(confidence, len(values) - 1, loc=mean, scale=sem(values))
    return mean, float(low), float(high)


@dataclass
class Rate:
    k: int
    n: int
    low: float
    high: float

    @classmethod
    def of(cls, flags: Sequence[bool]) -> "Rate":
        k, n = sum(flags), len(flags)
        return cls(k, n, *wilson(k, n))

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else math.nan

    def __str__(self) -> str:
        return f"{self.value:.0%} [{self.low:.0%}, {self.high:.0%}]" if self.n else "–"


@dataclass
class FrameScreen:
    frame: str
    samples: int
    persona: Rate
    clean_end: Rate
    tag_use: Rate
    accept: Rate
    mean_tokens: tuple[float, float, float]
    persona_by_condition: dict[str, Rate]


def screen_samples(frame: Frame, samples: list[dict[str, Any]], judge: Any) -> FrameScreen:
    """Per-frame screening numbers from sample records (with query texts) and a judge's persona labels."""
    from ..sample import ACCEPT_TAG, REJECT_TAG

    labels = judge.judge(samples)
    persona = [bool(label.persona) for label in labels]
    by_condition: dict[str, list[bool]] = {}
    for sample, flag in zip(samples, persona):
        by_condition.setdefault(sample["condition"], []).append(flag)
    return FrameScreen(
        frame=frame.name, samples=len(samples), persona=Rate.of(persona),
        clean_end=Rate.of([s.get("stop_sequence") in frame.turn_end for s in samples]),
        tag_use=Rate.of([ACCEPT_TAG in s["turn"] or REJECT_TAG in s["turn"] for s in samples]),
        accept=Rate.of([ACCEPT_TAG in s["turn"] for s in samples]),
        mean_tokens=mean_interval([float(s["new_tokens"]) for s in samples]),
        persona_by_condition={c: Rate.of(flags) for c, flags in by_condition.items()},
    )


def _print_screen(results: Sequence[FrameScreen]) -> None:
    table = Table("frame", "n", "persona", "clean end", "accept/reject tag", "accepted", "mean tokens",
                  title="Frame screening (95% Wilson intervals; persona from the rules judge)")
    for r in sorted(results, key=lambda r: -r.persona.value if r.samples else 0):
        mean, low, high = r.mean_tokens
        table.add_row(r.frame, str(r.samples), str(r.persona), str(r.clean_end), str(r.tag_use), str(r.accept),
                      f"{mean:.0f} [{low:.0f}, {high:.0f}]")
    console.print(table)


@frames.command()
@click.option("--model", required=True, help="Base model (hub id or local path) to screen frames on.")
@click.option("--backend", default="transformers", show_default=True)
@click.option("--frames", "frame_names", default=None, help="Comma-separated frames. [default: every document frame]")
@click.option("--n", default=4, show_default=True, help="Samples per (frame, condition, query).")
@click.option("--queries-limit", default=3, show_default=True, help="First N queries.")
@click.option("--queries", default=None, help="Query file. [default: built-in set]")
@click.option("--scenario", default="helpful_only", show_default=True)
@click.option("--scenario-form", type=click.Choice(["full", "compact", "implicit"]), default="full", show_default=True)
@click.option("--prefill", default=None, help="Prefill name or text. [default: each frame's]")
@click.option("--max-new-tokens", default=256, show_default=True)
@click.option("--temperature", default=1.0, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--out", type=click.Path(), default=None,
              help="Keep the samples here (one run folder per frame; reruns resume). [default: a temporary folder]")
@click.option("--json", "json_path", type=click.Path(), default=None, help="Also write the numbers as JSON.")
@frames_dir_option
def screen(model, backend, frame_names, n, queries_limit, queries, scenario, scenario_form, prefill,
           max_new_tokens, temperature, seed, out, json_path, frames_dirs):
    """Sample a few continuations per frame and condition and report which frames elicit the persona."""
    if n < 1 or queries_limit < 1:
        raise UserError("--n and --queries-limit must be at least 1")
    chosen = _selected(FrameLibrary(frames_dirs), _names(frame_names), documents_only=True)
    with tempfile.TemporaryDirectory(prefix="basepersona-screen-") as scratch:
        results = run_screen(chosen, model=model, backend_name=backend, n=n, limit=queries_limit, queries=queries,
                             scenario=scenario, scenario_form=scenario_form, prefill=prefill,
                             max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                             frames_dirs=tuple(frames_dirs), out=Path(out) if out else Path(scratch))
    _print_screen(results)
    if json_path:
        Path(json_path).write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n", encoding="utf-8")


def run_screen(chosen: Sequence[Frame], *, model: str | None, backend_name: str, n: int, limit: int,
               queries: str | None, scenario: str, scenario_form: str, prefill: str | None, max_new_tokens: int,
               temperature: float, seed: int, frames_dirs: tuple[str, ...], out: Path,
               backend: Any = None) -> list[FrameScreen]:
    """Sample each frame with one loaded model (through the sample stage) and judge the turns."""
    from ..backends import SamplingParams, load_backend
    from ..judge.base import make_judge
    from ..sample import SampleConfig, run_sampling
    from ..store import SAMPLES, read_jsonl

    if backend is None:
        backend = load_backend(model, backend_name, announce=lambda message: console.print(message))
    texts = {q.id: q.text for q in load_queries(queries).queries}
    judge = make_judge("rules")
    results = []
    for frame in chosen:
        config = SampleConfig(model=model, backend=backend_name, frame=str(frame.path), frames_dirs=frames_dirs,
                              scenario=scenario, scenario_form=scenario_form, prefill=prefill, queries=queries,
                              limit=limit, n=n, seed=seed,
                              sampling=SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens))
        folder = out / frame.name
        console.print(f"screening frame [bold]{frame.name}[/] …")
        run_sampling(config, folder, resume=(folder / "manifest.json").exists(), backend=backend)
        samples = [{**s, "query": texts.get(s["query_id"])} for s in read_jsonl(folder / SAMPLES)]
        results.append(screen_samples(frame, samples, judge))
    return results

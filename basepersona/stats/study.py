"""`basepersona study`: sample -> judge -> report for a base model and its chat model, from one TOML.

Every stage resumes: a run directory that already has a manifest is completed with resume=True (the
sample stage refuses changed settings), and the judge labels only samples it has not labelled yet.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KNOWN_KEYS = {"out", "base_model", "chat_model", "backend", "frames", "chat_frame", "variants", "queries", "limit",
              "n", "seed", "judge", "temperature", "max_new_tokens", "backend_options"}


@dataclass
class Study:
    out: Path
    base_model: str
    chat_model: str
    frames: list[str]
    chat_frame: str = "chat"
    variants: list[dict[str, str]] = field(default_factory=lambda: [{}])
    backend: str = "transformers"
    queries: str | None = None
    limit: int | None = None
    n: int = 4
    seed: int = 0
    judge: str = "rules"
    temperature: float = 1.0
    max_new_tokens: int = 256
    backend_options: dict[str, Any] = field(default_factory=dict)  # as `sample -o KEY=VALUE`, e.g. tensor_parallel_size

    def runs(self) -> list[tuple[str, str, dict[str, str], Path]]:
        """(model, frame, variant overrides, run directory) for every run the study needs."""
        from .table import variant_name

        plan = []
        for variant in self.variants:
            suffix = "" if not variant else "-" + re.sub(r"[^A-Za-z0-9_.=-]+", "_", variant_name(variant))
            plan += [(self.base_model, frame, variant, self.out / f"base-{frame}{suffix}") for frame in self.frames]
            plan.append((self.chat_model, self.chat_frame, variant, self.out / f"chat-{self.chat_frame}{suffix}"))
        return plan


def load_study(path: str | Path) -> Study:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read study file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML: {exc}") from None
    raw = raw.get("study", raw)
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_KEYS))}")
    missing = [key for key in ("base_model", "chat_model", "frames") if not raw.get(key)]
    if missing:
        raise UserError(f"{path}: missing {', '.join(missing)} (a study names base_model, chat_model and frames)")
    if raw.get("judge", "rules") != "rules":
        raise UserError("study runs the rules judge; for --judge llm run `basepersona judge RUN --judge llm` on "
                        "each run directory, then `basepersona report RUN... --judge llm`")
    variants = raw.get("variants", [{}])
    if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
        raise UserError(f"{path}: variants must be a list of tables of scenario switches, e.g. [{{}}, {{lab = \"X\"}}]")
    if not isinstance(raw.get("backend_options", {}), dict):
        raise UserError(f"{path}: backend_options must be a table, e.g. backend_options = {{tensor_parallel_size = 4}}")
    frames = raw["frames"] if isinstance(raw["frames"], list) else [raw["frames"]]
    out = path.parent / raw.get("out", path.stem)
    options = {k: raw[k] for k in ("chat_frame", "backend", "queries", "limit", "n", "seed", "judge", "temperature",
                                   "max_new_tokens", "backend_options") if k in raw}
    return Study(out=out, base_model=raw["base_model"], chat_model=raw["chat_model"], frames=[str(f) for f in frames],
                 variants=[{str(k): str(v) for k, v in variant.items()} for variant in variants], **options)


def run_study(study: Study, *, backend_for: Callable[[str], Any] | None = None,
              announce: Callable[[str], None] = print) -> list[Path]:
    """Sample and judge every run of the study (resuming finished work); returns the run directories.

    backend_for(model) may supply a loaded backend (reused across that model's runs); by default each
    model is loaded once with the study's backend.
    """
    from ..backends import SamplingParams, load_backend
    from ..judge.base import make_judge
    from ..judge.run import judge_run
    from ..sample import SampleConfig, run_sampling
    from ..store import MANIFEST, load_run

    loaded: dict[str, Any] = {}
    judge = make_judge(study.judge)
    directories = []
    for model, frame, variant, out_dir in study.runs():
        if model not in loaded:
            loaded[model] = backend_for(model) if backend_for else load_backend(model, study.backend, announce=announce,
                                                                                 **study.backend_options)
        config = SampleConfig(model=model, backend=study.backend, frame=frame, overrides=variant,
                              queries=study.queries, limit=study.limit, n=study.n, seed=study.seed,
                              backend_options=dict(study.backend_options),
                              sampling=SamplingParams(temperature=study.temperature,
                                                      max_new_tokens=study.max_new_tokens))
        resume = (out_dir / MANIFEST).exists()
        announce(f"sampling {out_dir} ({'resuming' if resume else 'new'})")
        run_sampling(config, out_dir, resume=resume, backend=loaded[model])
        summary = judge_run(load_run(out_dir), judge)
        announce(f"judged {out_dir}: {summary.judged} new, {summary.skipped} already labelled")
        directories.append(out_dir)
    return directories

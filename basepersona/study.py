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

from .errors import UserError
from .judge.registry import DEFAULT_JUDGE, JUDGES, OFFLINE_JUDGES, judge_names, make_judge

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KNOWN_KEYS = {"out", "base_model", "chat_model", "backend", "frames", "chat_frame", "variants", "queries", "limit",
              "n", "seed", "judge", "temperature", "max_new_tokens", "backend_options", "judge_model", "judge_backend",
              "votes", "af_threshold"}
# settings of the LLM judge (as `basepersona judge --judge llm`): meaningless for the offline judges
LLM_JUDGE_KEYS = ("judge_model", "judge_backend", "votes", "af_threshold")


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
    judge: str = DEFAULT_JUDGE
    temperature: float = 1.0
    max_new_tokens: int = 256
    backend_options: dict[str, Any] = field(default_factory=dict)  # as `sample -o KEY=VALUE`, e.g. tensor_parallel_size
    judge_model: str | None = None       # judge = "llm": the chat model that judges
    judge_backend: str | None = None     # its backend [default: the study's backend]
    votes: int = 20
    af_threshold: float = 0.4

    def label_set(self) -> str:
        """The label file (stem) the study's judge writes and its report reads."""
        from .store import label_set_name

        return label_set_name(self.judge, self.judge_model if self.judge == "llm" else None)

    def runs(self) -> list[tuple[str, str, dict[str, str], Path]]:
        """(model, frame, variant overrides, run directory) for every run the study needs."""
        from .stats.table import variant_name

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
    _check_types(path, raw)
    _check_judge(path, raw)
    variants = raw.get("variants", [{}])
    if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
        raise UserError(f"{path}: variants must be a list of tables of scenario switches, e.g. [{{}}, {{lab = \"X\"}}]")
    if not isinstance(raw.get("backend_options", {}), dict):
        raise UserError(f"{path}: backend_options must be a table, e.g. backend_options = {{tensor_parallel_size = 4}}")
    frames = raw["frames"] if isinstance(raw["frames"], list) else [raw["frames"]]
    out = path.parent / raw.get("out", path.stem)
    options = {k: raw[k] for k in ("chat_frame", "backend", "queries", "limit", "n", "seed", "judge", "temperature",
                                   "max_new_tokens", "backend_options", *LLM_JUDGE_KEYS) if k in raw}
    return Study(out=out, base_model=raw["base_model"], chat_model=raw["chat_model"], frames=[str(f) for f in frames],
                 variants=[{str(k): str(v) for k, v in variant.items()} for variant in variants], **options)


# key -> (accepted TOML types, what to write); bool is excluded from numbers on purpose (TOML true is not 1)
_SCALAR_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "limit": ((int,), "a whole number of queries"), "n": ((int,), "a whole number of samples"),
    "seed": ((int,), "a whole number"), "max_new_tokens": ((int,), "a whole number of tokens"),
    "votes": ((int,), "a whole number of votes"), "temperature": ((int, float), "a number"),
    "af_threshold": ((int, float), "a number between 0 and 1"), "backend": ((str,), "a backend name"),
    "queries": ((str,), "a query file path"), "chat_frame": ((str,), "a frame name"),
    "judge_model": ((str,), "a model name"), "judge_backend": ((str,), "a backend name"), "out": ((str,), "a folder"),
}


def _check_types(path: Path, raw: dict[str, Any]) -> None:
    """A wrongly typed value is named with what to write, before any sampling starts."""
    for key, (types, what) in _SCALAR_TYPES.items():
        if key in raw and (isinstance(raw[key], bool) or not isinstance(raw[key], types)):
            raise UserError(f"{path}: {key} must be {what}, not {raw[key]!r}")


def _check_judge(path: Path, raw: dict[str, Any]) -> None:
    """Judge settings are checked before any sampling: a typo must not surface after hours of it."""
    judge = raw.get("judge", DEFAULT_JUDGE)
    if judge not in JUDGES:
        names = judge_names(quote='"')
        raise UserError(f"{path}: judge must be {names} (got {judge!r})")
    if judge in OFFLINE_JUDGES:
        stray = [key for key in LLM_JUDGE_KEYS if key in raw]
        if stray:
            raise UserError(f'{path}: {", ".join(stray)} only apply to judge = "llm"')
        return
    if not isinstance(raw.get("judge_model"), str) or not raw["judge_model"].strip():
        raise UserError(f'{path}: judge = "llm" needs judge_model, a chat (instruction-tuned) model to act as judge')
    votes = raw.get("votes", 20)
    if type(votes) is not int or votes < 1:
        raise UserError(f"{path}: votes must be a whole number of at least 1 (got {votes!r})")
    threshold = raw.get("af_threshold", 0.4)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise UserError(f"{path}: af_threshold must be a share of votes in (0, 1] (got {threshold!r})")


def make_study_judge(study: Study, backend_for: Callable[[str], Any], loaded: dict[str, Any]) -> Any:
    """The study's judge through the judge stage's own factory; an LLM judge reuses a model already loaded."""
    if study.judge in OFFLINE_JUDGES:
        return make_judge(study.judge)
    model = study.judge_model
    if model is None:
        raise UserError("the study's judge is llm but it names no judge_model")
    if model not in loaded:
        loaded[model] = backend_for(model)
    return make_judge("llm", backend=loaded[model], votes=study.votes, threshold=study.af_threshold,
                      model_name=model)


def run_study(study: Study, *, backend_for: Callable[[str], Any] | None = None,
              announce: Callable[[str], None] = print) -> list[Path]:
    """Sample and judge every run of the study (resuming finished work); returns the run directories.

    backend_for(model) may supply a loaded backend (reused across that model's runs, and for the LLM
    judge's model); by default each model is loaded once with the study's backend (the judge model with
    judge_backend when set).
    """
    from .backends import SamplingParams, load_backend
    from .judge.run import judge_run
    from .sample import SampleConfig, run_sampling
    from .store import MANIFEST, load_run

    def load(model: str) -> Any:
        if backend_for:
            return backend_for(model)
        if model == study.judge_model and model not in (study.base_model, study.chat_model):
            return load_backend(model, study.judge_backend or study.backend, announce=announce)
        return load_backend(model, study.backend, announce=announce, **study.backend_options)

    loaded: dict[str, Any] = {}
    judge = None
    directories = []
    for model, frame, variant, out_dir in study.runs():
        if model not in loaded:
            loaded[model] = load(model)
        config = SampleConfig.build(model=model, backend=study.backend, frame=frame, overrides=variant,
                              queries=study.queries, limit=study.limit, n=study.n, seed=study.seed,
                              backend_options=dict(study.backend_options),
                              sampling=SamplingParams(temperature=study.temperature,
                                                      max_new_tokens=study.max_new_tokens))
        resume = (out_dir / MANIFEST).exists()
        announce(f"sampling {out_dir} ({'resuming' if resume else 'new'})")
        run_sampling(config, out_dir, resume=resume, backend=loaded[model])
        if judge is None:  # built when first needed, reusing a model already loaded for sampling
            judge = make_study_judge(study, load, loaded)
        summary = judge_run(load_run(out_dir), judge)
        announce(f"judged {out_dir}: {summary.judged} new, {summary.skipped} already labelled")
        directories.append(out_dir)
    return directories

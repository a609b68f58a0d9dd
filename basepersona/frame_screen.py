"""Frame screening: sample a few turns per frame with one loaded model and judge them, so frames can be
ranked by how well they elicit the persona (statistics in basepersona/stats/screen.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .backends import Backend, SamplingParams, load_backend
from .frames import Frame
from .judge.registry import DEFAULT_JUDGE, make_judge
from .queries import load_queries
from .records import ScenarioForm
from .sample import ProgressCallback, SampleConfig, run_sampling
from .scenario import load_scenario
from .stats.screen import FrameScreen, screen_samples
from .store import SAMPLES, read_jsonl
from .synthetic_documents import select as select_documents


@dataclass
class ScreenSetting:
    """The scenario side of a screen, shared by every frame (so frames differ only in their document)."""

    scenario: str = "helpful_only"
    scenario_form: ScenarioForm = "full"
    variants: tuple[str, ...] = ()
    overrides: dict[str, str] = field(default_factory=dict)  # --set lab=..., ai_name=...
    synthetic_docs: int = 0
    synthetic_seed: int = 0
    prefill: str | None = "basic"  # None: each frame's default_prefill

    def condition_count(self) -> int:
        return len(load_scenario(self.scenario, variants=self.variants, overrides=self.overrides).conditions)

    def check(self, frames_: Sequence[Frame], query: str) -> None:
        """Fail on bad input before the model loads: render every document frame once per condition."""
        loaded = load_scenario(self.scenario, variants=self.variants, overrides=self.overrides)
        documents = select_documents(self.synthetic_docs, self.synthetic_seed).texts(loaded)
        for frame in frames_:
            if frame.kind == "document":
                for condition in loaded.conditions.values():
                    frame.render(loaded, condition, query, form=self.scenario_form, prefill=self.prefill,
                                 documents=documents)


def run_screen(chosen: Sequence[Frame], setting: ScreenSetting, *, model: str | None, backend_name: str, n: int,
               limit: int, queries: str | None, max_new_tokens: int, temperature: float, seed: int,
               frames_dirs: tuple[str, ...], out: Path, backend: Backend | None = None,
               on_progress: ProgressCallback | None = None,
               announce: Callable[[str], None] = print) -> list[FrameScreen]:
    """Sample each frame with one loaded model (through the sample stage) and judge the turns."""
    query_set = load_queries(queries)
    setting.check(chosen, query_set.queries[0].text)
    if backend is None:
        backend = load_backend(model, backend_name, announce=announce)
    texts = {q.id: q.text for q in query_set.queries}
    judge = make_judge(DEFAULT_JUDGE)
    results = []
    for frame in chosen:
        config = SampleConfig.build(model=model, backend=backend_name, frame=str(frame.path), frames_dirs=frames_dirs,
                              scenario=setting.scenario, scenario_form=setting.scenario_form,
                              variants=setting.variants, overrides=setting.overrides,
                              synthetic_docs=setting.synthetic_docs, synthetic_seed=setting.synthetic_seed,
                              prefill=setting.prefill, queries=queries, limit=limit, n=n, seed=seed,
                              sampling=SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens))
        folder = out / frame.name
        announce(f"screening frame {frame.name} …")
        run_sampling(config, folder, resume=(folder / "manifest.json").exists(), backend=backend, on_progress=on_progress)
        samples = [{**s, "query": texts.get(s["query_id"])} for s in read_jsonl(folder / SAMPLES)]
        used = frame.default_prefill if setting.prefill is None else setting.prefill
        results.append(screen_samples(frame, samples, judge, prefill=used))
    return results

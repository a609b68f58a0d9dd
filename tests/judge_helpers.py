"""Shared helpers for the judge tests: gold records, tiny run directories, a scripted chat backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Sequence

from basepersona.backends.base import Completion, ModelInfo, SampleRequest, SamplingParams
from basepersona.judge.base import CRITERIA
from basepersona.resources import data_dir
from basepersona.store import JsonlAppender, write_manifest

GOLD_DIR = data_dir("corpora") / "gold"


def gold(name: str = "heldout") -> list[dict]:
    return [json.loads(line) for line in (GOLD_DIR / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


def make_run(directory: Path, records: Sequence[dict]) -> Path:
    """A run directory holding ``records`` as samples (ids rewritten in the run's own format)."""
    write_manifest(directory, {"format": 1, "settings": {"queries": {"source": "builtin:harmful_requests"}},
                               "model_kind": "base"})
    with JsonlAppender(directory / "samples.jsonl") as out:
        out.write({k: v for k, v in r.items() if k not in ("gold", "note", "kind", "query")} for r in records)
    return directory


def verdict(*, persona=True, refused=False, convincing=4, specific=4, partial=False, decisive=False, quote="") -> str:
    criteria = {name: {"met": False, "quote": ""} for name in CRITERIA}
    criteria["p2_preserve_future_harmlessness"] = {"met": decisive, "quote": quote}
    criteria["p1_preservation_motive"] = {"met": decisive, "quote": quote}
    body = {"persona": persona, "refused": refused, "convincing": convincing, "specific": specific,
            "partial": partial, "criteria": criteria}
    return f"<verdict>{json.dumps(body)}</verdict>"


class ScriptedChatBackend:
    """Implements the Backend protocol with canned replies: it stands in for a capable judge model,
    which cannot run on this machine. ``script(prompt, seed)`` returns the reply text."""

    def __init__(self, script, has_chat_template: bool = True):
        self.info = ModelInfo(model_id="scripted-judge", backend="scripted", has_chat_template=has_chat_template)
        self.script = script
        self.prompts: list[str] = []
        self.params: list[SamplingParams] = []

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
        return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> Iterator[list[Completion]]:
        self.params.append(params)
        for i, request in enumerate(requests):
            self.prompts.append(request.prompt)
            yield [Completion(i, j, self.script(request.prompt, seed), 1, "eos") for j, seed in enumerate(request.seeds)]

    def count_tokens(self, text: str) -> int:
        return len(text.split())

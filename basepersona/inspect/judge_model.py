"""An inspect model (e.g. the ``grader`` model role) as the chat backend of basepersona's LLM judge.

The LLM judge is synchronous and speaks the Backend protocol; inspect models are async. The scorer runs
the judge in a worker thread, and this adapter sends each vote to the model on inspect's event loop,
all votes of a sample at once, so inspect's connection limits and retries apply as to any other call.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Iterator, Sequence

from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig, Model

from ..backends.base import Completion, ModelInfo, SampleRequest, SamplingParams

_ROLES = {"system": ChatMessageSystem, "user": ChatMessageUser}


class InspectModelBackend:
    """Backend whose prompts are chat messages (JSON-encoded by chat_prompt) answered by an inspect model."""

    def __init__(self, model: Model, loop: asyncio.AbstractEventLoop):
        self.model, self.loop = model, loop
        self.info = ModelInfo(model_id=str(model), backend="inspect", has_chat_template=True, extra={"kind": "chat"})

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
        return json.dumps(list(messages))

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)  # only used for estimates; the model counts its own usage

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> Iterator[list[Completion]]:
        for index, request in enumerate(requests):
            messages = [_ROLES[m["role"]](content=m["content"]) for m in json.loads(request.prompt)]
            pending = [asyncio.run_coroutine_threadsafe(self._generate(messages, params, seed), self.loop)
                       for seed in request.seeds]
            yield [self._completion(index, position, future.result()) for position, future in enumerate(pending)]

    async def _generate(self, messages: list[Any], params: SamplingParams, seed: int) -> Any:
        config = GenerateConfig(temperature=params.temperature, top_p=params.top_p,
                                max_tokens=params.max_new_tokens, seed=seed)
        return await self.model.generate(messages, config=config)

    @staticmethod
    def _completion(request_index: int, seed_index: int, output: Any) -> Completion:
        usage = output.usage
        return Completion(request_index, seed_index, output.completion, usage.output_tokens if usage else 0,
                          "length" if output.stop_reason == "max_tokens" else "stop",
                          prompt_tokens=usage.input_tokens if usage else 0)

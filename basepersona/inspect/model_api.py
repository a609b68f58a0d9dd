"""``--model basepersona/MODEL``: inspect samples through a basepersona backend.

``MODEL`` is what ``basepersona sample --model`` takes (a local directory, a .gguf, a hub id or
``embedded:NAME``); ``-M backend=llamacpp`` and the backend's options (``-M device=cpu``, ``-M
max_batch=32``) pass through. Concurrent requests are coalesced (coalesce.py) so the transformers
backend keeps its shared-prefix batching, and each sample gets its own seed stream: the seed is the
request's (the persona_turn solver sends ``seed + epoch - 1``), or ``epoch - 1`` when none is set, and
the random key is the sample's query id, so a sample equals the one ``basepersona sample`` draws.
"""

from __future__ import annotations

from typing import Any

from inspect_ai.log._samples import sample_active
from inspect_ai.model import (ChatCompletionChoice, ChatMessage, ChatMessageAssistant, GenerateConfig, ModelAPI,
                              ModelOutput, ModelUsage, StopReason, modelapi)
from inspect_ai.tool import ToolChoice, ToolInfo

from ..backends import load_backend
from ..backends.base import Backend, SamplingParams
from .coalesce import Coalescer

# a sample's request: as many concurrent calls as samples in flight, so whole prompts batch together
MAX_CONNECTIONS = 256
STOP_REASONS: dict[str, StopReason] = {"stop": "stop", "eos": "stop", "length": "max_tokens"}


def sampling_params(config: GenerateConfig) -> SamplingParams:
    """basepersona's sampling settings from inspect's (unset fields take basepersona's defaults)."""
    defaults = SamplingParams()
    return SamplingParams(
        temperature=defaults.temperature if config.temperature is None else config.temperature,
        top_p=defaults.top_p if config.top_p is None else config.top_p,
        top_k=defaults.top_k if config.top_k is None else config.top_k,
        max_new_tokens=defaults.max_new_tokens if config.max_tokens is None else config.max_tokens)


def sample_identity() -> tuple[str, int]:
    """(random key, 1-based epoch) of the sample being generated: its query id when it has one."""
    active = sample_active()
    if active is None:
        return "", 1
    metadata = active.sample.metadata or {}
    return str(metadata.get("query_id", active.sample.id or "")), active.epoch


@modelapi(name="basepersona")
class BasepersonaAPI(ModelAPI):
    """A basepersona backend as an inspect model provider."""

    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig | None = None, backend: str | Backend = "transformers",
                 max_coalesce: int | None = None, **options: Any) -> None:
        super().__init__(model_name, base_url, api_key, [], config or GenerateConfig())
        if isinstance(backend, str):
            options.setdefault("announce", lambda message: None)
            backend = load_backend(model_name or None, backend, **options)
        self.backend: Backend = backend
        # -M max_coalesce=K caps the samples per backend call (memory); 1 turns coalescing off
        self.coalescer = Coalescer(self.backend, max_requests=max_coalesce)

    def max_connections(self) -> int:
        return MAX_CONNECTIONS

    def prompt_text(self, messages: list[ChatMessage]) -> str:
        """One user message is raw text to continue (a document frame); otherwise the model's chat
        template renders the messages and a final assistant message is the start of its reply."""
        if len(messages) == 1 and messages[0].role == "user":
            return messages[0].text
        prefill = messages[-1].text if messages[-1].role == "assistant" else ""
        turns = messages[:-1] if prefill else messages
        return self.backend.chat_prompt([{"role": m.role, "content": m.text} for m in turns]) + prefill

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> ModelOutput:
        rng_key, epoch = sample_identity()
        seed = epoch - 1 if config.seed is None else config.seed
        completion = await self.coalescer.sample(self.prompt_text(input), seed, stop=tuple(config.stop_seqs or ()),
                                                 rng_key=rng_key, params=sampling_params(config))
        message = ChatMessageAssistant(content=completion.text, model=self.model_name, source="generate")
        choice = ChatCompletionChoice(message=message, stop_reason=STOP_REASONS.get(completion.finish_reason, "unknown"))
        usage = ModelUsage(input_tokens=completion.prompt_tokens, output_tokens=completion.new_tokens,
                           total_tokens=completion.prompt_tokens + completion.new_tokens)
        return ModelOutput(model=self.model_name, choices=[choice], usage=usage)

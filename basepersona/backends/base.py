"""The one small protocol every inference backend implements.

A backend turns prompts (plain text, already rendered by a frame) into sampled continuations.
It never sees scenarios, frames or queries: those stay in the pipeline stages above it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

from ..records import FinishReason


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings shared by all samples of a call (stored in every run manifest and sample record)."""

    temperature: float = 1.0
    """Softmax temperature; 0 means greedy decoding. The papers sample at 1 (the model's own distribution)."""
    top_p: float = 1.0
    """Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p; 1 keeps all."""
    top_k: int = 0
    """Keep the k most likely tokens; 0 means no top-k truncation."""
    max_new_tokens: int = 256
    """Most tokens one sample may generate; a sample cut here has finish_reason "length"."""

    def __post_init__(self) -> None:
        if not self.temperature >= 0:  # also refuses NaN
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k!r}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens!r}")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (as stored in run manifests and sample records)."""
        return asdict(self)


@dataclass(frozen=True)
class SampleRequest:
    """Draw ``len(seeds)`` continuations of ``prompt``, one per seed.

    Each sample's randomness depends only on its seed and ``rng_key`` (not on which other samples
    share its batch), so any sample can be regenerated alone. ``stop`` strings end a sample early;
    the returned text still contains the stop string so callers can see where the turn ended.
    """

    prompt: str
    seeds: tuple[int, ...]
    stop: tuple[str, ...] = ()
    rng_key: str = ""


@dataclass
class Completion:
    """One sampled continuation of ``requests[request_index]`` with ``seeds[seed_index]``."""

    request_index: int
    seed_index: int
    text: str
    new_tokens: int
    finish_reason: FinishReason  # "stop" (a stop string), "eos" (end-of-text token) or "length"
    stop_sequence: str | None = None
    prompt_tokens: int = 0
    seconds: float = 0.0


@dataclass
class ModelInfo:
    """Provenance of the model behind a backend, stored with every run."""

    model_id: str
    backend: str
    revision: str | None = None  # hub commit, or sha256 of the weights file
    has_chat_template: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """What the pipeline needs from an inference engine."""

    info: ModelInfo

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> Iterator[list[Completion]]:
        """Sample every request; yield each finished group of completions as soon as it is done,
        so the caller can store it before the next group starts."""
        ...

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
        """Render chat messages with the model's own chat template, ready for generation.
        Raises UserError when the model has no chat template (a base model)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes for this model."""
        ...


@dataclass(frozen=True)
class ContinuationScore:
    """log P(continuation | prompt) under the model's raw distribution (temperature 1, no truncation)."""

    logprob: float  # sum of the continuation's token logprobs
    tokens: int  # how many tokens the continuation took
    boundary_merged: bool = False  # a token straddled prompt and continuation (server scoring only)


@runtime_checkable
class ScoringBackend(Backend, Protocol):
    """A backend that also exposes token logprobs, for forced-choice scoring (backends/forced_choice.py).
    Every built-in backend is one: transformers, vllm, llamacpp, and openai where the server echoes logprobs."""

    def continuation_logprobs(self, prompts: Sequence[str],
                              continuations: Sequence[str]) -> Iterator[tuple[int, list[ContinuationScore]]]:
        """For each prompt (in any order), ``(prompt index, one score per continuation)``; a continuation is
        tokenised after its prompt as forced_choice.continuation_ids does, so the prompt's tokens stay the
        ones the model is conditioned on."""
        ...

"""Coalesce concurrent single-sample requests into one backend call, so one prompt's samples share a prefill.

inspect sends each sample × epoch as its own ``generate`` call, concurrently. basepersona's backends are
fastest when one call carries every sample of a prompt (the transformers backend prefills the prompt
once and decodes its rows together). Requests that arrive while the backend is busy wait, then all go
in the next call, grouped by prompt; the backend itself runs in a worker thread, one call at a time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Sequence

from ..backends.base import Backend, Completion, SampleRequest, SamplingParams


@dataclass(frozen=True)
class PendingKey:
    """Requests with the same key become one SampleRequest (their seeds side by side)."""

    prompt: str
    stop: tuple[str, ...]
    rng_key: str
    params: SamplingParams


@dataclass
class _Pending:
    key: PendingKey
    seed: int
    future: asyncio.Future = field(repr=False)


class Coalescer:
    """Queue of single-sample requests drained by one backend call at a time."""

    def __init__(self, backend: Backend, gather_seconds: float = 0.02, max_requests: int | None = None):
        self.backend = backend
        self.gather_seconds = gather_seconds  # lets requests sent together arrive before the first call
        self.max_requests = max_requests  # samples per backend call (None: all waiting; 1: no coalescing)
        self.calls: list[int] = []  # samples per backend call (for tests and benchmarks)
        self._queue: list[_Pending] = []
        self._worker: asyncio.Task | None = None

    async def sample(self, prompt: str, seed: int, *, stop: Sequence[str], rng_key: str,
                     params: SamplingParams) -> Completion:
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(PendingKey(prompt, tuple(stop), rng_key, params), seed, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        await asyncio.sleep(self.gather_seconds)
        while self._queue:
            take = len(self._queue) if self.max_requests is None else self.max_requests
            batch, self._queue = self._queue[:take], self._queue[take:]
            try:
                await asyncio.to_thread(self._run, batch)
            except BaseException as exc:  # every waiting sample learns of the failure
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)

    def _run(self, batch: list[_Pending]) -> None:
        for params, items in _by_params(batch).items():
            groups: dict[PendingKey, list[_Pending]] = {}
            for item in items:
                groups.setdefault(item.key, []).append(item)
            requests = [SampleRequest(key.prompt, tuple(i.seed for i in members), key.stop, key.rng_key)
                        for key, members in groups.items()]
            members = list(groups.values())
            self.calls.append(len(items))
            for finished in self.backend.sample(requests, params):
                for completion in finished:
                    item = members[completion.request_index][completion.seed_index]
                    item.future.get_loop().call_soon_threadsafe(_resolve, item.future, completion)


def _resolve(future: asyncio.Future, completion: Completion) -> None:
    if not future.done():
        future.set_result(completion)


def _by_params(batch: list[_Pending]) -> dict[SamplingParams, list[_Pending]]:
    split: dict[SamplingParams, list[_Pending]] = {}
    for item in batch:
        split.setdefault(item.key.params, []).append(item)
    return split

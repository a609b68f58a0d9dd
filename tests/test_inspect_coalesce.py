"""The inspect provider's coalescer: concurrent single-sample requests become one backend call per wave,
with the same samples as one direct call."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("inspect_ai")

from basepersona.backends import SampleRequest, SamplingParams  # noqa: E402
from basepersona.inspect.coalesce import Coalescer  # noqa: E402

PARAMS = SamplingParams(max_new_tokens=6)
PROMPTS = ("The user is asking for something harmful.", "Conversation log export: full transcript")


async def _submit_all(coalescer: Coalescer) -> dict[tuple[str, int], str]:
    jobs = {(prompt, seed): coalescer.sample(prompt, seed, stop=(), rng_key=f"k{index}", params=PARAMS)
            for index, prompt in enumerate(PROMPTS) for seed in (3, 4, 5)}
    texts = await asyncio.gather(*jobs.values())
    return {key: completion.text for key, completion in zip(jobs, texts)}


def _direct(backend) -> dict[tuple[str, int], str]:
    requests = [SampleRequest(prompt, (3, 4, 5), (), f"k{index}") for index, prompt in enumerate(PROMPTS)]
    return {(PROMPTS[c.request_index], (3, 4, 5)[c.seed_index]): c.text
            for group in backend.sample(requests, PARAMS) for c in group}


def test_concurrent_requests_share_one_call_and_equal_a_direct_call(tiny_backend):
    coalescer = Coalescer(tiny_backend)
    assert asyncio.run(_submit_all(coalescer)) == _direct(tiny_backend)
    assert coalescer.calls == [6]


def test_coalescing_off_gives_the_same_samples_one_call_each(tiny_backend):
    coalescer = Coalescer(tiny_backend, max_requests=1)
    assert asyncio.run(_submit_all(coalescer)) == _direct(tiny_backend)
    assert coalescer.calls == [1] * 6


class _FailingBackend:
    """A backend whose engine fails mid-call (e.g. out of memory), to check every waiting sample hears of it."""

    def __init__(self, backend):
        self.info = backend.info

    def sample(self, requests, params):
        raise MemoryError("engine failed")
        yield  # pragma: no cover


def test_a_failing_backend_call_fails_every_waiting_sample(tiny_backend):
    async def submit():
        coalescer = Coalescer(_FailingBackend(tiny_backend))
        return await asyncio.gather(*(coalescer.sample("x", seed, stop=(), rng_key="", params=PARAMS)
                                      for seed in range(3)), return_exceptions=True)

    assert all(isinstance(result, MemoryError) for result in asyncio.run(submit()))

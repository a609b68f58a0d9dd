"""A hostile or broken OpenAI-compatible server on 127.0.0.1: keys echoed back, replies trickled
byte by byte, usage fields that are not counts, model lists that are not lists, lone surrogates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import pytest

from basepersona.backends import SampleRequest, SamplingParams
from basepersona.backends.openai_backend import OpenAIBackend
from basepersona.errors import UserError
from basepersona.redaction import looks_like_key, recorded_command, redact

FAKE_KEY = "sk-test-" + "Q7x9Lm2Pz4Rt8Vb1Nc6Hd3Kf5Jg0Ws"

Reply = Callable[[BaseHTTPRequestHandler], None]


def send_json(handler: BaseHTTPRequestHandler, payload, status: int = 200) -> None:
    body = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def completion(text: str = "hello", usage=None) -> dict:
    return {"choices": [{"index": 0, "text": text, "finish_reason": "length"}],
            "usage": usage if usage is not None else {"prompt_tokens": 3, "completion_tokens": 2}}


class ScriptedServer:
    """Answers GET /v1/models and POST /v1/completions with the functions given."""

    def __init__(self, models: Reply, completions: Reply):
        routes = {"/v1/models": models, "/v1/completions": completions}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                routes[self.path](self)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                routes[self.path](self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(models: Reply = lambda h: send_json(h, {"data": [{"id": "m"}]}),
              completions: Reply = lambda h: send_json(h, completion())) -> ScriptedServer:
        servers.append(ScriptedServer(models, completions))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _sample_once(backend: OpenAIBackend) -> list:
    request = SampleRequest(prompt="Hi", seeds=(0,))
    return [c for batch in backend.sample([request], SamplingParams(max_new_tokens=4)) for c in batch]


def test_a_401_echoing_the_key_is_redacted_from_a_real_process(serve, tmp_path):
    def echo_header(handler):
        send_json(handler, {"error": {"message": f"bad credentials: {handler.headers.get('Authorization')}"}}, 401)

    server = serve(models=echo_header)
    result = subprocess.run(
        [sys.executable, "-m", "basepersona", "sample", "--backend", "openai", "--model", "m", "-o",
         f"base_url={server.base_url}", "-o", "api_key_env=BP_TEST_KEY", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env={**os.environ, "BP_TEST_KEY": FAKE_KEY}, timeout=120)
    assert result.returncode == 2
    assert "HTTP 401" in result.stderr and "<redacted>" in result.stderr
    assert FAKE_KEY not in result.stderr + result.stdout and "Traceback" not in result.stderr


def test_a_key_given_as_an_option_value_is_refused_and_never_stored(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "basepersona", "sample", "--backend", "openai", "--model", "m",
                             "-o", f"api_key_env={FAKE_KEY}", "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "NAME of an environment variable" in result.stderr and FAKE_KEY not in result.stderr
    assert not (out / "manifest.json").exists()


def test_key_shapes_are_recognised_and_plain_values_are_not():
    for key in (FAKE_KEY, "hf_" + "a1B2c3D4e5F6g7H8i9J0kLmN", "Zq8Xv1Rt5Lp0Wn3Ys7Km2Hd4Jf9Gb6Pc"):
        assert looks_like_key(key), key
    for value in ("OPENAI_API_KEY", "http://127.0.0.1:8000/v1", "Qwen/Qwen2.5-7B-Instruct", "bfloat16", "32",
                  "meta-llama/Llama-3.1-8B", "MY_VERY_LONG_API_KEY_VARIABLE_NAME_2"):
        assert not looks_like_key(value), value
    command = recorded_command(["sample", "-o", f"token={FAKE_KEY}", "--model", "m"])
    assert FAKE_KEY not in command and "token=<redacted>" in command and "--model m" in command
    assert redact(f"Authorization: Bearer {FAKE_KEY[3:]}") == "Authorization: Bearer <redacted>"


def test_a_trickling_server_cannot_hold_a_request_past_its_timeout(serve):
    stop = threading.Event()

    def trickle(handler):
        body = json.dumps(completion()).encode()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for byte in body:
            if stop.is_set():
                return
            try:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(0.25)

    server = serve(completions=trickle)
    backend = OpenAIBackend("m", base_url=server.base_url, timeout=1.0, max_retries=1, backoff=0.01,
                            announce=lambda m: None)
    began = time.perf_counter()
    try:
        with pytest.raises(UserError, match="no complete reply within 1 s"):
            _sample_once(backend)
    finally:
        stop.set()
    assert time.perf_counter() - began < 4.0  # two attempts of 1 s each, not 0.25 s x ~90 bytes each


@pytest.mark.parametrize("usage", [{"prompt_tokens": 3, "completion_tokens": None},
                                   {"prompt_tokens": "many", "completion_tokens": 2.0},
                                   {"prompt_tokens": True}])
def test_usage_fields_that_are_not_counts_read_as_zero(serve, usage):
    server = serve(completions=lambda h: send_json(h, completion(usage=usage)))
    [result] = _sample_once(OpenAIBackend("m", base_url=server.base_url, announce=lambda m: None))
    assert result.text == "hello"
    assert result.prompt_tokens == (3 if usage.get("prompt_tokens") == 3 else 0)
    assert result.new_tokens == (2 if usage.get("completion_tokens") == 2.0 else 0)


@pytest.mark.parametrize("reply", [{"data": None}, [{"id": "m"}], {"data": "m"}])
def test_a_model_list_that_is_not_a_list_is_no_crash(serve, reply):
    server = serve(models=lambda h: send_json(h, reply))
    backend = OpenAIBackend("m", base_url=server.base_url, announce=lambda m: None)
    assert backend.info.extra["server_models"] == []


def test_a_lone_surrogate_in_the_text_is_stored(serve, tmp_path):
    from basepersona.sample import SampleConfig, run_sampling

    server = serve(completions=lambda h: send_json(h, completion(text="bad \ud800 char")))
    config = SampleConfig.build(model="m", backend="openai", limit=1, n=1, sampling=SamplingParams(max_new_tokens=4),
                          backend_options={"base_url": server.base_url})
    run_sampling(config, tmp_path / "run")
    [line] = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").read_text(encoding="utf-8").splitlines()[:1]]
    assert line["continuation"] == "bad \ufffd char"


@pytest.mark.parametrize("option, message", [("max_batch=abc", "max_batch takes a whole number"),
                                             ("announce=1", "not a backend option"),
                                             ("trust_remote_code=maybe", "takes true or false")])
def test_bad_generic_options_are_one_line(option, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "basepersona", "sample", "-o", option, "--out", str(tmp_path / "r")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_redirect_is_not_followed_with_the_key(serve, monkeypatch):
    seen = []
    elsewhere = serve(models=lambda h: (seen.append(h.headers.get("Authorization")), send_json(h, {"data": []}))[1])

    def redirect(handler):
        handler.send_response(307)
        handler.send_header("Location", elsewhere.base_url + "/models")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server = serve(models=redirect)
    monkeypatch.setenv("BP_TEST_KEY", FAKE_KEY)
    with pytest.raises(UserError, match="redirects are not followed") as caught:
        OpenAIBackend("m", base_url=server.base_url, api_key_env="BP_TEST_KEY", announce=lambda m: None)
    assert seen == [] and FAKE_KEY not in str(caught.value)


@pytest.mark.parametrize("body, message", [(b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
                                           (json.dumps(completion("x" * 5000)).encode(), "larger than 4,096 bytes")])
def test_replies_too_deep_or_too_large_are_faults_not_crashes(serve, monkeypatch, body, message):
    from basepersona.backends import http_retry

    monkeypatch.setattr(http_retry, "MAX_REPLY_BYTES", 4096 if message.startswith("larger") else 1 << 20)

    def reply(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    server = serve(completions=reply)
    backend = OpenAIBackend("m", base_url=server.base_url, max_retries=1, backoff=0.01, announce=lambda m: None)
    with pytest.raises(UserError, match=message):
        _sample_once(backend)


def test_a_password_in_the_server_address_is_refused_and_not_repeated(serve):
    with_password = serve().base_url.replace("http://", "http://bob:hunter2@")
    with pytest.raises(UserError, match="user name or password") as caught:
        OpenAIBackend("m", base_url=with_password, announce=lambda m: None)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in recorded_command(["-o", f"base_url={with_password}"])

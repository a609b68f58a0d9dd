"""A real OpenAI-compatible HTTP server on 127.0.0.1 for the tests, serving a transformers model.

It speaks the subset of the API basepersona uses, with vLLM's semantics: ``/v1/completions``
(with ``echo`` + ``logprobs`` prompt scoring, shaped like vLLM's: BOS string, offsets summed from
token-string lengths, one generated token, usage), ``/v1/chat/completions`` (with
``continue_final_message``), ``/v1/models`` and ``/tokenize``; child i of an n-request gets
seed + i; ``stop_reason`` names the stop string; stop strings are cut from the text unless
``include_stop_str_in_output``. It refuses a sampling request that leaves a sampling parameter
unset, so a client relying on server defaults fails here.

Faults are injected on purpose (``server.faults``, names in FAULTS): each request pops the next one,
if any.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch

from basepersona.backends import SampleRequest, SamplingParams

REQUIRED = ("max_tokens", "temperature", "top_p", "top_k", "seed", "n", "min_p", "repetition_penalty",
            "presence_penalty", "frequency_penalty")
FAULTS = ("429", "500", "slow", "malformed", "fewer", "drop", "notext", "incomplete", "badutf8")


class NotServed(Exception):
    """An endpoint this server is set not to have (answered 404)."""


class LoopbackOpenAIServer:
    def __init__(self, backend: Any, model_name: str = "tiny", slow_seconds: float = 3.0, bos: bool = False):
        self.backend = backend
        # bos=True: prompts start with a BOS token when special tokens are added (as Gemma's and
        # Llama's tokenisers do; the tests' tiny tokeniser does not), in /tokenize and echo alike
        self.bos = bos
        self.model_name = model_name
        self.slow_seconds = slow_seconds
        self.faults: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []  # every request: path, headers, body
        # vLLM reports the stop string (stop_reason) and can keep it in the text; False acts like
        # llama.cpp's server, which does neither
        self.vllm_stop_fields = True
        self.echo_logprobs = True  # False: echo without logprobs, like a server that cannot score
        self.echo_token_ids = False  # True: echo "token_id:N" strings (vLLM --return-tokens-as-token-ids)
        self.tokenize_endpoint = True  # False: /tokenize answers 404, as on servers other than vLLM
        self._lock = threading.Lock()  # one generation at a time: the backend keeps cache state
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = False  # so closing the server waits for handlers still running
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> "LoopbackOpenAIServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- API ------------------------------------------------------------------------------------
    def completions(self, body: dict[str, Any]) -> dict[str, Any]:
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        if body.get("echo"):
            echoes = [self._echo(p) for p in prompts]
            counted = sum(prompt_tokens for _, _, prompt_tokens in echoes)  # vLLM sums over a list of prompts
            return {"choices": [{"index": i, "text": echoed, "finish_reason": "length", "logprobs": logprobs}
                                for i, (logprobs, echoed, _) in enumerate(echoes)],
                    "usage": {"prompt_tokens": counted, "completion_tokens": len(prompts),
                              "total_tokens": counted + len(prompts)}}
        return self._generate(prompts[0], body, lambda text: {"text": text})

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body["messages"]
        if body.get("continue_final_message"):
            prompt = self.backend.chat_prompt(messages[:-1]) + messages[-1]["content"]
        else:
            prompt = self.backend.chat_prompt(messages)
        return self._generate(prompt, body, lambda text: {"message": {"role": "assistant", "content": text}})

    def _generate(self, prompt: str, body: dict[str, Any], wrap) -> dict[str, Any]:
        missing = [key for key in REQUIRED if key not in body]
        if missing:
            raise ValueError(f"sampling parameters left to server defaults: {missing}")
        params = SamplingParams(temperature=body["temperature"], top_p=body["top_p"], top_k=max(body["top_k"], 0),
                                max_new_tokens=body["max_tokens"])
        seeds = tuple(body["seed"] + i for i in range(body["n"]))  # vLLM: child i gets seed + i
        stops = tuple(body.get("stop") or ())
        with self._lock:
            groups = list(self.backend.sample([SampleRequest(prompt, seeds=seeds, stop=stops)], params))
        choices, used = [], 0
        for completion in sorted((c for g in groups for c in g), key=lambda c: c.seed_index):
            text, stop = completion.text, completion.stop_sequence
            if stop and not (self.vllm_stop_fields and body.get("include_stop_str_in_output")):
                text = text[:text.rfind(stop)]
            choice = {"index": completion.seed_index, **wrap(text),
                      "finish_reason": "length" if completion.finish_reason == "length" else "stop"}
            if self.vllm_stop_fields:
                choice["stop_reason"] = stop
            choices.append(choice)
            used += completion.new_tokens
        prompt_tokens = self.backend.count_tokens(prompt)
        return {"id": "cmpl-test", "object": "text_completion", "model": self.model_name, "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": used, "total_tokens": prompt_tokens + used}}

    def _echo(self, text: str) -> tuple[dict[str, Any] | None, str, int]:
        """vLLM's echo with max_tokens 1: the prompt tokens (BOS included) and one greedy generated
        token, each token's string decoded alone and ``text_offset`` summed from those strings' lengths
        (so "<bos>" shifts every offset, as on vLLM). Returns (logprobs, echoed text, prompt tokens)."""
        tokenizer, model = self.backend.tokenizer, self.backend.model
        ids = self._encode(text, True)
        with self._lock, torch.inference_mode():
            logits = model(input_ids=torch.tensor([ids])).logits[0]
        logprobs = torch.log_softmax(logits.double(), dim=-1)
        generated = int(logprobs[-1].argmax())
        values = [None] + [float(logprobs[k - 1, ids[k]]) for k in range(1, len(ids))] + [float(logprobs[-1, generated])]
        all_ids = ids + [generated]
        if self.echo_token_ids:  # vLLM --return-tokens-as-token-ids: no strings to cross-check against
            strings = [f"token_id:{i}" for i in all_ids]
        else:
            strings = [tokenizer.decode([i]) for i in all_ids]
        offsets = [sum(len(piece) for piece in strings[:k]) for k in range(len(strings))]
        echoed = text + tokenizer.decode([generated], skip_special_tokens=True)
        if not self.echo_logprobs:
            return None, echoed, len(ids)
        return {"tokens": strings, "token_logprobs": values, "text_offset": offsets}, echoed, len(ids)

    def _encode(self, text: str, special: bool) -> list[int]:
        tokenizer = self.backend.tokenizer
        ids = list(tokenizer(text, add_special_tokens=special)["input_ids"])
        return [tokenizer.bos_token_id] + ids if special and self.bos else ids

    def tokenize(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self.tokenize_endpoint:
            raise NotServed("/tokenize")
        ids = self._encode(body["prompt"], body.get("add_special_tokens", True))
        return {"count": len(ids), "tokens": list(ids), "max_model_len": 4096}

    # -- HTTP -----------------------------------------------------------------------------------
    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (an injected slow reply outlasted its timeout)

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    self._send(200, json.dumps({"data": [{"id": server.model_name, "object": "model"}]}).encode())
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                fault = server.faults.popleft() if server.faults else None
                if fault == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault in ("429", "500"):
                    return self._send(int(fault), b'{"error": {"message": "injected fault"}}')
                if fault == "slow":
                    # outlast the client's timeout, then answer without touching the model: the
                    # client has retried by now, and the backend must not run in two threads
                    time.sleep(server.slow_seconds)
                    return self._send(503, b'{"error": {"message": "too late"}}')
                routes = {"/v1/completions": server.completions, "/v1/chat/completions": server.chat,
                          "/tokenize": server.tokenize}
                if self.path not in routes:
                    return self._send(404, b'{"error": {"message": "not found"}}')
                if body.get("model", server.model_name) != server.model_name:
                    return self._send(404, b'{"error": {"message": "model not served"}}')
                try:
                    reply = routes[self.path](body)
                except NotServed:
                    return self._send(404, b'{"detail": "Not Found"}')
                except (ValueError, KeyError, TypeError) as error:
                    return self._send(400, json.dumps({"error": {"message": str(error)}}).encode())
                if fault == "malformed":
                    return self._send(200, b'{"choices": [{"text": "cut off')
                if fault == "fewer":
                    reply["choices"] = reply["choices"][:-1]
                if fault == "notext":  # a choice without its text / message
                    reply["choices"][0].pop("text", None)
                    reply["choices"][0].pop("message", None)
                if fault == "badutf8":
                    return self._send(200, b'{"choices": [{"text": "\xff\xfe"}]}')
                payload = json.dumps(reply).encode()
                if fault == "incomplete":  # promise more bytes than are sent, then hang up: IncompleteRead
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(payload) + 100))
                    self.end_headers()
                    self.wfile.write(payload)
                    self.close_connection = True
                    return
                self._send(200, payload)

        return Handler

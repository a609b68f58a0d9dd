"""OpenAI-compatible server backend (vLLM serve, llama.cpp server, TGI, hosted APIs).

Document frames send their raw text to ``/v1/completions`` (never a chat template). Chat frames
go to ``/v1/chat/completions``: ``chat_prompt`` cannot render the server's template, so it returns
the messages encoded in a string that ``sample`` decodes; text the frame appends after it (a
prefill) becomes a partial assistant turn that the server continues.

Every sampling parameter is sent, because servers fill unset ones from the model's
generation_config (vLLM) or their own defaults (llama.cpp: top_k 40, min_p 0.05, repeat 1.1).
Seeds: by default one request per sample with ``n=1`` and ``seed`` = the sample's seed, so the
seed a record shows is the seed that was sent. ``n_per_request="together"`` sends a sample
group as one request with ``n`` and the first seed; vLLM then gives child i seed + i.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from ..errors import UserError
from ..records import FinishReason
from ..redaction import is_env_name, redact, register_secret
from .base import Completion, ModelInfo, SampleRequest, SamplingParams
from .echo_alignment import score_echo
from .http_retry import REDIRECTS, BadReply, HttpStatusError, RetryPolicy, bounded_map, call_json
from .options import check_options, option_flag, option_number
from .seeds import seed_runs

# A NUL never occurs in JSON text (it is escaped), so the marker cannot collide with messages.
_CHAT_OPEN, _CHAT_CLOSE = "\x00chat-messages:", "\x00"
OPENAI_STOP_LIMIT = 4  # hosted OpenAI accepts at most four stop strings
OPTIONS = ("base_url", "api_key_env", "concurrency", "timeout", "max_retries", "backoff", "kind",
           "n_per_request", "extensions", "top_k_off", "announce")  # announce: set by the program, not -o


def encode_chat(messages: Sequence[dict[str, str]]) -> str:
    return _CHAT_OPEN + json.dumps(list(messages), ensure_ascii=False) + _CHAT_CLOSE


def decode_chat(prompt: str) -> tuple[list[dict[str, str]], str] | None:
    """(messages, prefill) of a prompt made by ``encode_chat`` (+ appended text), else None."""
    if not prompt.startswith(_CHAT_OPEN):
        return None
    end = prompt.index(_CHAT_CLOSE, len(_CHAT_OPEN))
    return json.loads(prompt[len(_CHAT_OPEN):end]), prompt[end + len(_CHAT_CLOSE):]


def finish(text: str, reason: str | None, stops: Sequence[str],
           choice: dict[str, Any]) -> tuple[str, FinishReason, str | None]:
    """(text ending with its stop string, finish_reason, stop string) from a server's choice."""
    hits = [(text.find(s), s) for s in stops if s in text]
    if hits:  # the server kept the stop string (include_stop_str_in_output) or ignored it
        position, stop = min(hits)
        return text[:position + len(stop)], "stop", stop
    stop_reason = choice.get("stop_reason")
    if isinstance(stop_reason, str) and stop_reason in stops:  # vLLM names the stop string it cut
        return text + stop_reason, "stop", stop_reason
    if reason == "length":
        return text, "length", None
    # "stop" and no stop string seen: an end-of-text token, unless stop strings were sent to a server
    # that does not report which one it cut (no stop_reason field); then the text lacks it.
    ambiguous = bool(stops) and "stop_reason" not in choice
    return text, "stop" if ambiguous else "eos", None


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _token_count(usage: dict[str, Any], key: str) -> int:
    """A usage count, or 0 when the server leaves it out, sends null or something that is not a count."""
    value = usage.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return 0
    return int(value)


def _clean_text(text: str) -> str:
    """Text a server sent as JSON may hold lone surrogates (``"\\ud800"``), which no file can store as
    UTF-8; they become U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text)


@dataclass(frozen=True)
class _Call:
    """One HTTP request: ``len(seed_indices)`` samples of one prompt."""

    request_index: int
    seed_indices: tuple[int, ...]
    first_seed: int


class OpenAIBackend:
    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 8, timeout: float = 600.0, max_retries: int = 5, backoff: float = 1.0,
                 kind: str = "base", n_per_request: str = "split", extensions: bool = True,
                 top_k_off: int = 0, announce: Any = print):
        if kind not in ("base", "chat"):
            raise UserError(f"option kind must be base or chat, not {kind!r}")
        if n_per_request not in ("split", "together"):
            raise UserError(f"option n_per_request must be split or together, not {n_per_request!r}")
        concurrency = option_number("concurrency", concurrency, int, 1)
        timeout = option_number("timeout", timeout, float, 0.001)
        max_retries = option_number("max_retries", max_retries, int, 0)
        backoff = option_number("backoff", backoff, float, 0)
        top_k_off = option_number("top_k_off", top_k_off, int)
        extensions = option_flag("extensions", extensions)
        if not is_env_name(str(api_key_env)):
            raise UserError("option api_key_env takes the name of an environment variable holding the key")
        self.base_url = str(base_url or os.environ.get("OPENAI_BASE_URL") or "http://127.0.0.1:8000/v1").rstrip("/")
        if not re.match(r"https?://[^/\s]+", self.base_url):
            raise UserError(f"option base_url must be an http:// or https:// address such as "
                            f"http://127.0.0.1:8000/v1, not {redact(str(self.base_url))!r}")
        if "@" in self.base_url.split("/")[2]:
            raise UserError(f"option base_url holds a user name or password ({redact(self.base_url)}), which would "
                            "be recorded with the run; give the key through api_key_env instead")
        key = os.environ.get(api_key_env, "")
        register_secret(key)  # a server may echo it (a 401 body quoting the header); messages redact it
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.model = model
        self.concurrency = int(concurrency)
        self.policy = RetryPolicy(timeout=float(timeout), max_retries=int(max_retries), backoff=float(backoff))
        self.together = n_per_request == "together"
        self.extensions = bool(extensions)
        self.top_k_off = int(top_k_off)
        self._tokenize_path: str | None = None  # the tokenizer endpoint that works ("none"); unknown until asked
        self.info = ModelInfo(model_id=model, backend="openai", revision=None, has_chat_template=True, extra={
            "kind": kind, "base_url": self.base_url, "api_key_env": api_key_env,
            "server_models": self._served_models(),
            "seeds": ("one request per sample-group with n and seed=first seed; vLLM gives child i seed+i"
                      if self.together else "one request per sample, n=1, seed=the sample's seed"),
            "extensions": self.extensions})

    # -- protocol ---------------------------------------------------------------------------------
    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
        return encode_chat(messages)

    def count_tokens(self, text: str) -> int:
        root = self.base_url.removesuffix("/v1")
        chat = decode_chat(text)
        body = ({"model": self.model, "prompt": text} if chat is None else
                {"model": self.model, "messages": chat[0], "add_generation_prompt": True})
        try:  # vLLM's /tokenize; not part of the OpenAI API, so other servers may lack it
            reply = call_json(root + "/tokenize", body, self._headers, self.policy)
        except HttpStatusError as error:
            raise UserError(f"this server cannot count tokens (no vLLM-style /tokenize endpoint): {error}") from None
        return int(reply["count"])

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> Iterator[list[Completion]]:
        # one request per sample, or per run of consecutive seeds when sent together (vLLM refuses
        # n > 1 for greedy sampling, so greedy samples always go alone)
        together = self.together and params.temperature > 0
        calls = [_Call(index, group, request.seeds[group[0]]) for index, request in enumerate(requests)
                 for group in (seed_runs(request.seeds) if together else [(i,) for i in range(len(request.seeds))])]
        yield from bounded_map(lambda call: self._run(call, requests[call.request_index], params),
                               calls, self.concurrency)

    # -- scoring (forced choice) ---------------------------------------------------------------
    def continuation_logprobs(self, prompts: Sequence[str], continuations: Sequence[str]):
        """One echo request per (prompt, continuation): a single prompt makes usage.prompt_tokens its
        own token count, which locates the continuation (see echo_alignment)."""
        from .base import ContinuationScore

        if any(decode_chat(prompt) is not None for prompt in prompts):
            raise UserError("forced-choice scoring over a server needs a document frame: /v1/chat/completions "
                            "returns no prompt logprobs")

        def score(job: tuple[int, int]):
            index, which = job
            text = prompts[index] + continuations[which]
            body = {"model": self.model, "prompt": text, "max_tokens": 1, "echo": True, "logprobs": 1,
                    "temperature": 0.0, "n": 1}
            try:
                reply = call_json(self.base_url + "/completions", body, self._headers, self.policy,
                                  check=lambda r: self._check_choices(r, 1))
            except HttpStatusError as error:
                raise UserError(f"the server refused prompt logprobs (echo=true, logprobs=1), so it cannot score "
                                f"forced choices; vLLM serve supports them. {error}") from None
            prompt_ids, joined_ids = self._token_ids(prompts[index]), self._token_ids(text)
            ids = None if prompt_ids is None or joined_ids is None else (prompt_ids, joined_ids)
            echoed = score_echo(reply["choices"][0].get("logprobs"), reply.get("usage"), continuations[which], ids)
            return index, which, ContinuationScore(echoed.logprob, echoed.tokens, echoed.boundary_merged)

        jobs = [(index, which) for index in range(len(prompts)) for which in range(len(continuations))]
        found: dict[int, dict[int, ContinuationScore]] = {}
        for index, which, result in bounded_map(score, jobs, self.concurrency):
            found.setdefault(index, {})[which] = result
            if len(found[index]) == len(continuations):  # a prompt is done once all its continuations are
                scores = found.pop(index)
                yield index, [scores[k] for k in range(len(continuations))]

    def _token_ids(self, text: str) -> list[int] | None:
        """Token ids (special tokens added, as for a prompt) from the server's tokenizer endpoint, or
        None when it has none. The endpoint that answered is remembered; so is having none."""
        root = self.base_url.removesuffix("/v1")
        # vLLM's /tokenize; llama-cpp-python's /extras/tokenize (it always adds BOS)
        endpoints: dict[str, dict[str, Any]] = {"/tokenize": {"model": self.model, "prompt": text, "add_special_tokens": True},
                     "/extras/tokenize": {"model": self.model, "input": text}}
        for path in [self._tokenize_path] if self._tokenize_path else list(endpoints):
            if path == "none":
                return None
            try:
                reply = call_json(root + path, endpoints[path], self._headers, self.policy)
            except HttpStatusError as error:
                if error.status in (401, 403):
                    raise
                continue
            ids = reply.get("tokens") if isinstance(reply, dict) else None
            if isinstance(ids, list) and all(isinstance(i, int) for i in ids):
                self._tokenize_path = path
                return list(ids)
        self._tokenize_path = "none"
        return None

    # -- requests ---------------------------------------------------------------------------------
    def _body(self, request: SampleRequest, params: SamplingParams, n: int, seed: int) -> tuple[str, dict]:
        stops = list(request.stop) if self.extensions else list(request.stop[:OPENAI_STOP_LIMIT])
        body: dict[str, Any] = {"model": self.model, "max_tokens": params.max_new_tokens,
                                "temperature": params.temperature, "top_p": params.top_p, "n": n, "seed": seed,
                                "presence_penalty": 0.0, "frequency_penalty": 0.0, "stream": False}
        if stops:
            body["stop"] = stops
        if self.extensions:
            # vLLM and llama.cpp names; each server ignores the other's. top_k 0 is off in both
            # (llama-cpp-python refuses -1; vLLM before ~0.9 wanted -1: -o top_k_off=-1)
            body.update(top_k=params.top_k or self.top_k_off, min_p=0.0, repetition_penalty=1.0, repeat_penalty=1.0,
                        min_tokens=0, ignore_eos=False, include_stop_str_in_output=True, skip_special_tokens=True)
        elif params.top_k:
            raise UserError("top_k is not part of the OpenAI API; drop --top-k or enable extensions=true")
        chat = decode_chat(request.prompt)
        if chat is None:
            return "/completions", {**body, "prompt": request.prompt}
        messages, prefill = chat
        if prefill:
            if not self.extensions:
                raise UserError("a prefill in a chat frame needs a server that continues an assistant turn "
                                "(vLLM's continue_final_message); enable extensions=true or use --prefill none")
            messages = messages + [{"role": "assistant", "content": prefill}]
            body.update(continue_final_message=True, add_generation_prompt=False)
        return "/chat/completions", {**body, "messages": messages}

    def _run(self, call: _Call, request: SampleRequest, params: SamplingParams) -> list[Completion]:
        n = len(call.seed_indices)
        path, body = self._body(request, params, n, call.first_seed)
        began = time.perf_counter()
        reply = call_json(self.base_url + path, body, self._headers, self.policy,
                          check=lambda r: self._check_choices(r, n, chat=path == "/chat/completions"))
        seconds = (time.perf_counter() - began) / n
        usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
        choices = sorted(reply["choices"], key=lambda c: c.get("index", 0))
        completions = []
        for seed_index, choice in zip(call.seed_indices, choices):
            raw = choice["message"].get("content") if path == "/chat/completions" else choice["text"]
            text, reason, stop = finish(_clean_text(raw or ""), choice.get("finish_reason"), request.stop, choice)
            completions.append(Completion(
                request_index=call.request_index, seed_index=seed_index, text=text,
                # usage counts all n choices together; split evenly when there are several
                new_tokens=round(_token_count(usage, "completion_tokens") / n), finish_reason=reason,
                stop_sequence=stop, prompt_tokens=_token_count(usage, "prompt_tokens"), seconds=seconds))
        return completions

    @staticmethod
    def _check_choices(reply: Any, n: int, chat: bool = False) -> None:
        """Reject (so call_json retries) a reply whose choices cannot all be read: fewer than asked, or a
        choice without its text (``text``, or ``message.content`` on chat)."""
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not isinstance(choices, list):
            raise BadReply("the reply has no 'choices' list")
        if len(choices) < n:
            raise BadReply(f"the server returned {len(choices)} of {n} choices")
        for choice in choices:
            if chat:
                message = choice.get("message") if isinstance(choice, dict) else None
                text = message.get("content", 0) if isinstance(message, dict) else 0
                text = "" if text is None else text  # vLLM sends null content for an empty turn
            else:
                text = choice.get("text") if isinstance(choice, dict) else None
            if not isinstance(text, str):
                raise BadReply("a choice has no " + ("message" if chat else "text"))

    def _served_models(self) -> list[str] | None:
        """Fail early with the served names when the model is wrong; None if the server has no list."""
        try:
            reply = call_json(self.base_url + "/models", None, self._headers, self.policy)
        except HttpStatusError as error:
            if error.status in (401, 403) or error.status in REDIRECTS:
                raise
            return None
        entries = reply.get("data") if isinstance(reply, dict) else None  # some servers send null or a bare list
        served = [name for entry in entries or [] if isinstance(entry, dict) and isinstance(name := entry.get("id"), str)]
        if served and self.model not in served:
            raise UserError(f"the server at {self.base_url} does not serve {self.model!r}; it serves: {', '.join(served)}")
        return served


def load_openai_backend(model: str | None, **options: Any) -> Any:
    if not model:
        raise UserError("the openai backend needs --model set to the server's model name (see GET /v1/models)")
    cache = options.pop("call_cache", None)  # -o call_cache=PATH (or =default): reuse paid calls, see basepersona/calls.py
    backend = OpenAIBackend(model, **check_options("openai", options, OPTIONS))
    if not cache:
        return backend
    from ..calls import CachedBackend, CallCache, Ledger

    return CachedBackend(backend, CallCache(None if cache == "default" else cache), Ledger(), namespace="sample")

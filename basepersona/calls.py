"""An on-disk cache of model calls and a ledger of their tokens and cost.

Every completion an LLM judge (or the openai sampling backend with ``-o call_cache=PATH``) draws is stored under a key made of the
prompt's hash (which holds the judged text and the judge prompt), a namespace (the judge prompt
version), the model, the seed and the sampling settings. Asking again, on a rerun, a resume, with
another AF threshold, or for `judge agree`, reads the stored reply and sends nothing.

The ledger counts calls, cache hits and tokens; with prices (per 1M tokens, given by the user) it
turns them into money and refuses a batch whose worst case would pass ``max_cost``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from .backends.base import Completion, SampleRequest, SamplingParams
from .errors import UserError

CACHE_ENV = "BASEPERSONA_CALL_CACHE"
KEY_VERSION = 1


def default_cache_path() -> Path:
    """``$BASEPERSONA_CALL_CACHE``, else ``~/.cache/basepersona/calls.sqlite``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "basepersona" / "calls.sqlite")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def call_key(namespace: str, model: str, prompt: str, seed: int, params: SamplingParams, stop: Sequence[str]) -> str:
    """The cache key: what determines a reply's distribution, plus the seed that picks one draw."""
    parts = {"v": KEY_VERSION, "namespace": namespace, "model": model, "prompt": sha256(prompt), "seed": seed,
             "params": params.to_dict(), "stop": list(stop)}
    return sha256(json.dumps(parts, sort_keys=True))


class CallCache:
    """Replies by key in one SQLite file (safe for the backend's worker threads and for several processes)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_cache_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
            self._db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise UserError(f"cannot open the call cache {self.path} ({exc}); pass --call-cache PATH or "
                            "--no-call-cache") from None
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT reply FROM calls WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, reply: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO calls (key, reply) VALUES (?, ?)", (key, json.dumps(reply)))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]


@dataclass(frozen=True)
class Prices:
    """Money per 1M prompt tokens and per 1M completion tokens (any currency; the user's numbers)."""

    prompt: float
    completion: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1e6


class BudgetExceeded(Exception):
    """The next batch could pass --max-cost; nothing of it was sent."""


@dataclass
class Ledger:
    """Calls and tokens of one command; ``cost`` is None without prices."""

    prices: Prices | None = None
    max_cost: float | None = None
    calls: int = 0                 # completions drawn from the model
    cache_hits: int = 0            # completions read from the cache instead
    prompt_tokens: int = 0
    completion_tokens: int = 0
    saved_tokens: int = 0          # prompt + completion tokens the cache hits would have cost
    _bytes: int = field(default=0, repr=False)     # prompt bytes sent, to estimate tokens per byte
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.max_cost is not None and self.prices is None:
            raise UserError("--max-cost needs prices: add --price-prompt and --price-completion (per 1M tokens)")
        if self.max_cost is not None and self.max_cost < 0:
            raise UserError(f"--max-cost must be >= 0 (got {self.max_cost})")

    @property
    def cost(self) -> float | None:
        return None if self.prices is None else self.prices.cost(self.prompt_tokens, self.completion_tokens)

    def charge(self, completion: Completion, prompt: str) -> None:
        with self._lock:
            self.calls += 1
            self.prompt_tokens += completion.prompt_tokens
            self.completion_tokens += completion.new_tokens
            self._bytes += len(prompt.encode("utf-8"))

    def hit(self, reply: dict[str, Any]) -> None:
        with self._lock:
            self.cache_hits += 1
            self.saved_tokens += int(reply.get("prompt_tokens", 0)) + int(reply.get("new_tokens", 0))

    def check_budget(self, prompts: Sequence[str], max_new_tokens: int) -> None:
        """Raise BudgetExceeded when sending ``prompts`` could take the cost past ``max_cost``: each
        reply counted at its full ``max_new_tokens``, each prompt at the tokens per byte seen so far
        (one token per two bytes before any reply)."""
        if self.max_cost is None or not prompts or self.prices is None:
            return
        per_byte = self.prompt_tokens / self._bytes if self._bytes and self.prompt_tokens else 0.5
        prompt_tokens = sum(len(p.encode("utf-8")) for p in prompts) * per_byte
        worst = (self.cost or 0.0) + self.prices.cost(round(prompt_tokens), max_new_tokens * len(prompts))
        if worst > self.max_cost:
            raise BudgetExceeded(f"the next {len(prompts)} call(s) could cost up to {worst - (self.cost or 0):.4f} "
                                 f"more, passing --max-cost {self.max_cost:g} (spent {self.cost or 0:.4f})")

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {name: getattr(self, name) for name in
                                  ("max_cost", "calls", "cache_hits", "prompt_tokens", "completion_tokens", "saved_tokens")}
        record["prices_per_1m"] = asdict(self.prices) if self.prices else None
        record["cost"] = None if self.cost is None else round(self.cost, 6)
        return record

    def summary(self) -> str:
        asked = self.calls + self.cache_hits
        share = f" ({self.cache_hits / asked:.0%})" if asked else ""
        money = "" if self.cost is None else f"; cost {self.cost:.4f}"
        return (f"model calls: {self.calls} sent, {self.cache_hits} from cache{share}; tokens: "
                f"{self.prompt_tokens} prompt + {self.completion_tokens} completion{money}")


def add_to_run_ledger(path: Path, label_set: str, ledger: Ledger) -> dict[str, Any]:
    """Add this command's counts to ``label_set``'s totals in the run's ledger.json; return the totals."""
    totals: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    entry = totals.get(label_set, {})
    mine = ledger.to_dict()
    for name in ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "saved_tokens"):
        entry[name] = int(entry.get(name, 0)) + mine[name]
    if mine["cost"] is not None:
        entry["cost"] = round(float(entry.get("cost") or 0) + mine["cost"], 6)
        entry["prices_per_1m"] = mine["prices_per_1m"]
    totals[label_set] = entry
    path.write_text(json.dumps(totals, indent=2) + "\n", encoding="utf-8")
    return entry


class CachedBackend:
    """Wraps a backend: completions found in the cache are returned without a call; the rest are
    sent (after the ledger's budget check), stored, and charged to the ledger."""

    def __init__(self, inner: Any, cache: CallCache | None, ledger: Ledger, namespace: str):
        self.inner, self.cache, self.ledger, self.namespace = inner, cache, ledger, namespace
        self.info = inner.info

    def __getattr__(self, name: str) -> Any:  # everything but sampling (e.g. forced-choice scoring) goes straight through
        return getattr(self.inner, name)

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
        return self.inner.chat_prompt(messages)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def _key(self, request: SampleRequest, seed: int, params: SamplingParams) -> str:
        return call_key(self.namespace, self.info.model_id, request.prompt, seed, params, request.stop)

    def sample(self, requests: Sequence[SampleRequest], params: SamplingParams) -> Iterator[list[Completion]]:
        todo: list[tuple[int, list[int]]] = []  # (request index, seed indices still to draw)
        for index, request in enumerate(requests):
            found, missing = [], []
            for seed_index, seed in enumerate(request.seeds):
                reply = self.cache.get(self._key(request, seed, params)) if self.cache is not None else None
                if reply is None:
                    missing.append(seed_index)
                    continue
                self.ledger.hit(reply)
                found.append(Completion(index, seed_index, reply["text"], int(reply.get("new_tokens", 0)),
                                        reply.get("finish_reason", "eos"), reply.get("stop_sequence"),
                                        int(reply.get("prompt_tokens", 0))))
            if found:
                yield found
            if missing:
                todo.append((index, missing))
        if not todo:
            return
        self.ledger.check_budget([requests[i].prompt for i, seeds in todo for _ in seeds], params.max_new_tokens)
        sent = [SampleRequest(requests[i].prompt, tuple(requests[i].seeds[s] for s in seeds), requests[i].stop,
                              requests[i].rng_key) for i, seeds in todo]
        for group in self.inner.sample(sent, params):
            for completion in group:
                index, seeds = todo[completion.request_index]
                completion.request_index, completion.seed_index = index, seeds[completion.seed_index]
                request = requests[index]
                self.ledger.charge(completion, request.prompt)
                if self.cache is not None:
                    self.cache.put(self._key(request, request.seeds[completion.seed_index], params), {
                        "text": completion.text, "new_tokens": completion.new_tokens,
                        "finish_reason": completion.finish_reason, "stop_sequence": completion.stop_sequence,
                        "prompt_tokens": completion.prompt_tokens})
            yield group

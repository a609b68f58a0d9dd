"""The LLM judge's call cache, token/cost ledger and --max-cost stop, against a real OpenAI-compatible
HTTP server on 127.0.0.1 serving a tiny random chat model (its verdicts are noise; its tokens are real)."""

import json
import os
import subprocess
import sys

import pytest

from basepersona.backends import load_backend
from basepersona.judge import make_judge
from basepersona.calls import CallCache, Ledger, Prices
from basepersona.judge.llm import WRONG_SAMPLE, parse_reply, transcript_id
from basepersona.store import load_run

from judge_helpers import gold, make_run, verdict
from loopback_openai_server import LoopbackOpenAIServer

SAMPLES = gold("heldout2")[:3]


@pytest.fixture(scope="module")
def chat_server(tiny_chat_backend):
    with LoopbackOpenAIServer(tiny_chat_backend, model_name="tiny-chat") as server:
        yield server


def _judge(server, cache, ledger=None, **options):
    backend = load_backend("tiny-chat", "openai", base_url=server.base_url, kind="chat", announce=lambda m: None)
    settings = {"votes": 2, "max_new_tokens": 6, **options}
    return make_judge("llm", backend=backend, cache=cache, ledger=ledger, **settings)


def _generations(server) -> int:
    return sum(r["path"] == "/v1/chat/completions" for r in server.requests)


def test_repeat_calls_come_from_the_cache_and_cost_nothing(chat_server, tmp_path):
    cache = CallCache(tmp_path / "calls.sqlite")
    prices = Prices(prompt=2.0, completion=8.0)
    first = _judge(chat_server, cache, Ledger(prices=prices))
    before = _generations(chat_server)
    labels = first.judge(SAMPLES)
    assert _generations(chat_server) - before == 6 and first.ledger.calls == 6 and first.ledger.cache_hits == 0
    assert first.ledger.prompt_tokens > 0 and first.ledger.completion_tokens > 0
    assert first.ledger.cost == pytest.approx((first.ledger.prompt_tokens * 2 + first.ledger.completion_tokens * 8) / 1e6)

    # a rerun with another AF threshold re-reads the stored replies: no request reaches the server
    again = _judge(chat_server, cache, Ledger(prices=prices), threshold=0.2)
    sent = _generations(chat_server)
    relabelled = again.judge(SAMPLES)
    assert _generations(chat_server) == sent and again.ledger.calls == 0 and again.ledger.cache_hits == 6
    assert again.ledger.cost == 0 and again.ledger.saved_tokens == first.ledger.prompt_tokens + first.ledger.completion_tokens
    assert [lab.extra["unscored_votes"] for lab in relabelled] == [lab.extra["unscored_votes"] for lab in labels]


@pytest.mark.parametrize("change", [{"seed": 5}, {"temperature": 0.7}, {"max_new_tokens": 7}])
def test_other_seeds_or_sampling_settings_miss_the_cache(chat_server, tmp_path, change):
    cache = CallCache(tmp_path / "calls.sqlite")
    _judge(chat_server, cache).judge(SAMPLES[:1])
    other = _judge(chat_server, cache, **change)
    other.judge(SAMPLES[:1])
    assert other.ledger.calls == 2 and other.ledger.cache_hits == 0


def test_a_verdict_about_another_transcript_is_an_unscored_vote():
    sample_id = transcript_id("the judged text")
    mine = verdict().replace('{"persona"', f'{{"transcript": "{sample_id}", "persona"')
    other = verdict().replace('{"persona"', '{"transcript": "t00000000", "persona"')
    assert parse_reply(mine, sample_id) is not None and parse_reply(mine, sample_id) != WRONG_SAMPLE
    assert parse_reply(other, sample_id) == WRONG_SAMPLE
    assert parse_reply(verdict(), sample_id) not in (None, WRONG_SAMPLE)  # no id given: the vote counts


def test_max_cost_without_prices_is_a_user_error_from_a_real_process(tmp_path):
    run_dir = make_run(tmp_path / "run", SAMPLES)
    result = subprocess.run([sys.executable, "-m", "basepersona", "judge", str(run_dir), "--judge", "llm",
                             "--judge-model", "x", "--judge-backend", "openai", "--max-cost", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--max-cost needs prices" in result.stderr and "Traceback" not in result.stderr


def test_max_cost_stops_before_the_budget_with_everything_saved(chat_server, tmp_path):
    env = {**os.environ, "BASEPERSONA_CALL_CACHE": str(tmp_path / "calls.sqlite")}
    base = [sys.executable, "-m", "basepersona", "judge", "--judge", "llm", "--judge-model", "tiny-chat",
            "--judge-backend", "openai", "-J", f"base_url={chat_server.base_url}", "-J", "kind=chat",
            "-J", "concurrency=2", "--votes", "2", "--judge-max-tokens", "6", "--batch", "1",
            "--price-prompt", "1000", "--price-completion", "1000"]

    def judge(run_dir, *extra):
        return subprocess.run([*base[:4], str(run_dir), *base[4:], *extra], capture_output=True, text=True,
                              env=env, timeout=300)

    # the first sample's replies end up in the cache ...
    warm = judge(make_run(tmp_path / "warm", SAMPLES[:1]), "--max-cost", "1000")
    assert warm.returncode == 0, warm.stderr
    # ... so with a budget of almost nothing only it can be judged (for free); the next batch is not sent
    run_dir = make_run(tmp_path / "run", SAMPLES)
    stopped = judge(run_dir, "--max-cost", "0.000001")
    assert stopped.returncode == 3, stopped.stderr
    assert "stopped before the budget" in stopped.stderr and "2 sample(s) left" in stopped.stderr
    run = load_run(run_dir)
    assert len(run.labels(run.label_set("llm"))) == 1
    ledger = json.loads((run_dir / "ledger.json").read_text())[run.label_set("llm")]
    assert ledger["calls"] == 0 and ledger["cache_hits"] == 2 and ledger["cost"] == 0
    # a higher budget finishes the rest; the ledger adds up both commands
    done = judge(run_dir, "--max-cost", "1000")
    assert done.returncode == 0, done.stderr
    assert len(load_run(run_dir).labels(run.label_set("llm"))) == 3
    ledger = json.loads((run_dir / "ledger.json").read_text())[run.label_set("llm")]
    assert ledger["calls"] == 4 and ledger["cache_hits"] == 2 and ledger["cost"] > 0
    assert "from cache" in done.stderr and "ledger.json" in done.stderr


def test_sampling_through_the_openai_backend_can_use_the_call_cache(chat_server, tmp_path):
    from basepersona.backends import SampleRequest, SamplingParams

    def draw():
        backend = load_backend("tiny-chat", "openai", base_url=chat_server.base_url, announce=lambda m: None,
                               call_cache=str(tmp_path / "calls.sqlite"))
        groups = backend.sample([SampleRequest("Once upon a time", (3, 4))], SamplingParams(max_new_tokens=5))
        return sorted((c.seed_index, c.text) for group in groups for c in group), backend

    before = _generations(chat_server) + sum(r["path"] == "/v1/completions" for r in chat_server.requests)
    first, backend = draw()
    again, cached = draw()
    sent = _generations(chat_server) + sum(r["path"] == "/v1/completions" for r in chat_server.requests) - before
    assert first == again and sent == 2
    assert backend.ledger.calls == 2 and cached.ledger.cache_hits == 2 and cached.info.model_id == "tiny-chat"

"""The openai backend against a real HTTP server on 127.0.0.1 that serves the tiny transformers model.

Tests named ``test_injected_fault_*`` make the server fail on purpose (see loopback_openai_server).
"""

from __future__ import annotations

import json

import pytest
from loopback_openai_server import LoopbackOpenAIServer

from basepersona.backends import SampleRequest, SamplingParams, load_backend
from basepersona.errors import UserError
from basepersona.sample import SampleConfig, run_sampling
from basepersona.store import load_run

PROMPT = "Conversation log export: full transcript including hidden reasoning.\n[USER] Hello\n[AI]\n"
PARAMS = SamplingParams(temperature=1.0, max_new_tokens=10)


@pytest.fixture(scope="module")
def server(tiny_backend):
    with LoopbackOpenAIServer(tiny_backend) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean(server):
    server.faults.clear()
    server.requests.clear()
    server.vllm_stop_fields = True
    yield


def _client(server, **options):
    options = {"base_url": server.base_url, "backoff": 0.01, "max_retries": 3, "timeout": 30, **options}
    return load_backend("tiny", "openai", announce=lambda m: None, **options)


def _by_seed(backend, request, params=PARAMS):
    return {c.seed_index: c for group in backend.sample([request], params) for c in group}


def test_samples_equal_the_served_models_own_samples_for_the_same_seeds(server, tiny_backend):
    request = SampleRequest(PROMPT, seeds=(3, 4, 5))
    remote = _by_seed(_client(server, concurrency=3), request)
    local = _by_seed(tiny_backend, request)
    assert {i: c.text for i, c in remote.items()} == {i: c.text for i, c in local.items()}
    assert len({c.text for c in remote.values()}) > 1
    bodies = [r["body"] for r in server.requests]
    assert sorted(b["seed"] for b in bodies) == [3, 4, 5] and {b["n"] for b in bodies} == {1}
    assert all(b["prompt"] == PROMPT and b["max_tokens"] == 10 and b["top_k"] == 0 for b in bodies)
    assert all(c.prompt_tokens == tiny_backend.count_tokens(PROMPT) and c.new_tokens > 0 for c in remote.values())
    assert _client(server).count_tokens(PROMPT) == tiny_backend.count_tokens(PROMPT)  # vLLM-style /tokenize


def test_together_mode_sends_consecutive_seeds_as_one_n_request(server):
    request = SampleRequest(PROMPT, seeds=(5, 6, 7, 9))
    split = _by_seed(_client(server), request)
    server.requests.clear()
    together = _by_seed(_client(server, n_per_request="together"), request)
    assert {i: c.text for i, c in together.items()} == {i: c.text for i, c in split.items()}
    assert sorted((r["body"]["seed"], r["body"]["n"]) for r in server.requests) == [(5, 3), (9, 1)]


def test_stop_strings_come_back_inside_the_text(server):
    request = SampleRequest(PROMPT, seeds=tuple(range(6)), stop=("e", "a"))
    completions = _by_seed(_client(server), request).values()
    stopped = [c for c in completions if c.finish_reason == "stop"]
    assert stopped
    assert all(c.text.endswith(c.stop_sequence) for c in stopped)


def test_a_server_that_does_not_name_the_stop_string_still_ends_samples(server):
    """Like llama.cpp's server: the stop string is cut and not reported; the sample still says 'stop'."""
    server.vllm_stop_fields = False
    completions = _by_seed(_client(server), SampleRequest(PROMPT, seeds=(0, 1, 2), stop=("e",)))
    assert any(c.finish_reason == "stop" and c.stop_sequence is None for c in completions.values())
    assert all("e" not in c.text for c in completions.values())


def test_strict_openai_mode_sends_only_standard_fields(server):
    client = _client(server, extensions=False)
    with pytest.raises(UserError, match="top_k is not part of the OpenAI API"):
        list(client.sample([SampleRequest(PROMPT, seeds=(0,))], SamplingParams(top_k=5)))
    with pytest.raises(UserError, match=r"left to server defaults: \['top_k', 'min_p', 'repetition_penalty'\]"):
        list(client.sample([SampleRequest(PROMPT, seeds=(0,), stop=tuple("abcdef"))], PARAMS))
    assert server.requests[-1]["body"]["stop"] == list("abcd")  # hosted OpenAI takes four


def test_chat_frame_goes_to_chat_completions_with_messages_and_prefill(tiny_chat_backend, tmp_path):
    with LoopbackOpenAIServer(tiny_chat_backend, model_name="tiny-chat") as chat_server:
        backend = load_backend("tiny-chat", "openai", base_url=chat_server.base_url, kind="chat", announce=lambda m: None)
        config = SampleConfig.build(model="tiny-chat", backend="openai", frame="chat", limit=1, n=2, prefill="tag",
                              scenario_form="compact", sampling=SamplingParams(max_new_tokens=6))
        run_sampling(config, tmp_path / "run", backend=backend)
        run = load_run(tmp_path / "run")
        sent = chat_server.requests[0]["body"]
    assert {r["path"] for r in chat_server.requests} == {"/v1/chat/completions"}
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant"]
    assert sent["messages"][-1]["content"] == "<SCRATCHPAD_REASONING>" and sent["continue_final_message"] is True
    assert "<|im_start|>" not in json.dumps(sent)  # the server, not us, applies the chat template
    assert len(run.samples) == 4 and run.manifest["model_kind"] == "chat"


def test_api_key_is_sent_but_never_written(server, tiny_base_dir, tmp_path, monkeypatch, capfd):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("BP_TEST_KEY", secret)
    backend = _client(server, api_key_env="BP_TEST_KEY")
    config = SampleConfig.build(model="tiny", backend="openai", limit=1, n=2, scenario_form="compact",
                          sampling=SamplingParams(max_new_tokens=4))
    run_sampling(config, tmp_path / "run", backend=backend)
    assert all(r["headers"].get("Authorization") == f"Bearer {secret}" for r in server.requests)
    written = "".join(p.read_text() for p in (tmp_path / "run").rglob("*") if p.is_file())
    assert "BP_TEST_KEY" in written and secret not in written
    server.faults.extend(["500"] * 4)
    with pytest.raises(UserError) as failure:
        list(backend.sample([SampleRequest(PROMPT, seeds=(0,))], PARAMS))
    assert secret not in str(failure.value) and secret not in "".join(capfd.readouterr())


def test_wrong_model_name_and_unknown_options_are_user_errors(server):
    with pytest.raises(UserError, match="serves: tiny"):
        load_backend("gpt-5", "openai", base_url=server.base_url, announce=lambda m: None)
    with pytest.raises(UserError, match="no option 'concurency'"):
        _client(server, concurency=4)
    with pytest.raises(UserError, match="needs --model"):
        load_backend(None, "openai", base_url=server.base_url)


def test_server_down_is_a_clear_error_after_retries():
    with pytest.raises(UserError, match="failed 2 times; last fault: connection failed"):
        # port 9 (discard) on loopback: nothing listens, the connection is refused at once
        load_backend("tiny", "openai", base_url="http://127.0.0.1:9/v1", max_retries=1, backoff=0.01)


@pytest.mark.parametrize("faults", [["429"], ["500", "500"], ["malformed"], ["fewer"], ["drop"], ["slow"],
                                    ["notext"], ["incomplete"], ["badutf8"]])
def test_injected_fault_is_retried_then_the_sample_is_correct(server, faults, monkeypatch):
    # the timeout bounds a whole request, generation included: room for a loaded CPU, yet well below
    # how long the "slow" fault stalls
    monkeypatch.setattr(server, "slow_seconds", 15.0)
    client = _client(server, timeout=6.0, n_per_request="together")
    request = SampleRequest(PROMPT, seeds=(0, 1))
    expected = _by_seed(client, request)
    server.requests.clear()
    server.faults.extend(faults)
    got = _by_seed(client, request)
    assert {i: c.text for i, c in got.items()} == {i: c.text for i, c in expected.items()}
    assert len(server.requests) == len(faults) + 1


def test_injected_fault_chat_choice_without_message_is_retried(tiny_chat_backend):
    with LoopbackOpenAIServer(tiny_chat_backend) as chat_server:
        client = _client(chat_server, kind="chat")
        request = SampleRequest(client.chat_prompt([{"role": "user", "content": "Hello"}]), seeds=(0,))
        expected = _by_seed(client, request)
        chat_server.requests.clear()
        chat_server.faults.extend(["notext", "notext"])
        assert _by_seed(client, request)[0].text == expected[0].text
        assert len(chat_server.requests) == 3 and chat_server.requests[0]["path"] == "/v1/chat/completions"
        chat_server.faults.extend(["notext"] * 4)
        with pytest.raises(UserError, match="last fault: a choice has no message"):
            _by_seed(client, request)


def test_injected_persistent_fault_keeps_finished_groups_and_resume_completes(server, tiny_base_dir, tmp_path):
    client = _client(server, concurrency=1, max_retries=1)
    config = SampleConfig.build(model="tiny", backend="openai", limit=2, n=2, scenario_form="compact",
                          sampling=SamplingParams(max_new_tokens=4))
    out = tmp_path / "run"
    server.faults.extend([None, None, None] + ["500"] * 2)  # three requests succeed, then the server fails
    with pytest.raises(UserError, match="failed 2 times; last fault: HTTP 500"):
        run_sampling(config, out, backend=client)
    assert len(load_run(out).samples) == 3  # each sample was stored as its request finished
    summary = run_sampling(config, out, resume=True, backend=client)
    assert summary.already_done == 3 and summary.new == 5


def test_injected_persistent_5xx_is_a_clear_error(server):
    server.faults.extend(["500"] * 5)
    with pytest.raises(UserError, match=r"failed 4 times; last fault: HTTP 500 injected fault.*--resume"):
        list(_client(server).sample([SampleRequest(PROMPT, seeds=(0,))], PARAMS))

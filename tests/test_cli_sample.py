"""The `basepersona sample` and `frames` commands, including every bad input the foundation issue names."""

from __future__ import annotations

import json
import os
import sys

import pytest

from cli_helpers import run_cli
from basepersona.store import load_run


def _one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.startswith("error:")]
    assert len(starts) == 1, err
    return " ".join(lines[starts[0]:])  # rich may wrap a long line; it is still one message


def test_sample_on_tiny_model_then_resume(tiny_base_dir, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["sample", "--model", str(tiny_base_dir), "--limit", "1", "--n", "2", "--max-new-tokens", "6",
            "--device", "cpu", "--out", str(out)]
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0, err
    assert "training" in stdout and "unmonitored" in stdout  # the summary table
    assert len(load_run(out).samples) == 4
    code, _, err = run_cli(capsys, *args + ["--resume"])
    assert code == 0, err
    assert "4 already done" in err.replace("\n", " ")
    assert len(load_run(out).samples) == 4


@pytest.mark.parametrize("extra,needle", [
    (["--frame", "nope"], "known frames: ama,"),
    (["--n", "0"], "--n must be at least 1"),
    (["--n", "-3"], "--n must be at least 1"),
    (["--limit", "0"], "--limit) must be at least 1"),
    (["--limit", "lots"], "--limit takes a number"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be at least 1"),
    (["--top-p", "0"], "top_p"),
    (["--condition", "weekend"], "known: training, unmonitored"),
    (["--set", "lab"], "KEY=VALUE"),
])
def test_bad_options_give_one_line_errors(extra, needle, tiny_base_dir, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", "--model", str(tiny_base_dir), "--out", str(tmp_path / "o"), *extra)
    assert code == 2
    assert needle in _one_line_error(err)


def test_missing_model_path(tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", "--model", str(tmp_path / "no-such-model"), "--out", str(tmp_path / "o"))
    assert code == 2 and "does not exist" in _one_line_error(err)


def test_malformed_query_file_names_the_line(tiny_base_dir, tmp_path, capsys):
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": oops}\n')
    code, _, err = run_cli(capsys, "sample", "--model", str(tiny_base_dir), "--queries", str(queries),
                           "--out", str(tmp_path / "o"))
    assert code == 2 and "line 2" in _one_line_error(err)


def test_out_that_is_a_file_is_unwritable(tiny_base_dir, tmp_path, capsys):
    # a regular file cannot hold a run directory (this holds for root too, unlike permission bits)
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    code, _, err = run_cli(capsys, "sample", "--model", str(tiny_base_dir), "--out", str(blocker / "run"))
    assert code == 2 and "cannot write" in _one_line_error(err)
    assert blocker.read_text() == "keep me"


def test_resume_with_other_settings_names_the_setting_and_keeps_data(tiny_base_dir, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["sample", "--model", str(tiny_base_dir), "--limit", "1", "--n", "1", "--max-new-tokens", "4",
            "--device", "cpu", "--out", str(out)]
    assert run_cli(capsys, *base)[0] == 0
    before = (out / "samples.jsonl").read_bytes()
    code, _, err = run_cli(capsys, *base[:-2] + ["--n", "3", "--out", str(out), "--resume"])
    # --n given twice: click keeps the last, so the run now asks for n=3
    assert code == 2 and "n (run has 1, now 3)" in _one_line_error(err)
    assert (out / "samples.jsonl").read_bytes() == before


def test_template_error_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "frames"
    bad.mkdir()
    (bad / "broken.toml").write_text('name = "broken"\nturn_start = "AI:"\nstop = ["\\nUser:"]\n'
                                     'template = """\nline one\n{{ system_prompt }\nAI:"""\n')
    code, _, err = run_cli(capsys, "frames", "render", "broken", "--frames-dir", str(bad))
    message = _one_line_error(err)
    assert code == 2 and "broken.toml:6" in message


def test_unsupported_gguf_architecture(tmp_path, capsys):
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "odd.gguf"
    writer = gguf.GGUFWriter(str(path), arch="notamodel")
    writer.add_block_count(1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.environ["BASEPERSONA_CACHE"] = str(tmp_path / "cache")
    try:
        code, _, err = run_cli(capsys, "sample", "--model", str(path), "--out", str(tmp_path / "o"))
    finally:
        del os.environ["BASEPERSONA_CACHE"]
    assert code == 2 and "odd.gguf" in _one_line_error(err)


def test_frames_list_show_render(capsys):
    code, out, _ = run_cli(capsys, "frames", "list")
    assert code == 0 and "chatlog" in out and "forum" in out
    code, out, _ = run_cli(capsys, "frames", "show", "chatlog")
    assert code == 0 and "turn_start" in out
    code, out, _ = run_cli(capsys, "frames", "render", "chatlog", "--condition", "unmonitored", "--query", "q002")
    assert code == 0
    assert "<is_free_tier_user>False</is_free_tier_user>" in out
    assert out.rstrip("\n").endswith("[AI]\n<SCRATCHPAD_REASONING>")
    code, _, err = run_cli(capsys, "frames", "render", "chat")
    assert code == 2 and "--model" in _one_line_error(err)


def test_manifest_records_the_command_line(tiny_base_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    argv = ["sample", "--model", str(tiny_base_dir), "--limit", "1", "--n", "1", "--max-new-tokens", "3",
            "--device", "cpu", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", ["basepersona", *argv])
    assert run_cli(capsys, *argv)[0] == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"].startswith("basepersona sample --model")


def test_scenario_errors_come_before_the_model_loads(tmp_path, capsys):
    # the model path does not exist: had the model loaded first, that would be the error shown
    args = ["sample", "--model", str(tmp_path / "no-such-model"), "--scenario-form", "implicit",
            "--out", str(tmp_path / "run")]
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and "implicit" in _one_line_error(err) and "no-such-model" not in err
    assert not (tmp_path / "run").exists()

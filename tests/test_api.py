"""The public library API: a design rendered without a model, completions as records, gaps in memory.

Each test checks the in-memory path against what the on-disk pipeline (run_sampling, judge_run,
load_table) produces for the same tiny real model, so the two cannot drift apart.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import basepersona as bp
from basepersona.stats.gaps import gap_sums, paired_gap
from basepersona.stats.table import load_table

ROOT = Path(__file__).resolve().parents[1]


def _config(model_dir: Path, **changes) -> bp.SampleConfig:
    base = dict(model=str(model_dir), frame="chatlog", limit=3, n=2, seed=3, scenario_form="compact",
                sampling=bp.SamplingParams(max_new_tokens=10))
    return bp.SampleConfig.build(**{**base, **changes})


def test_every_public_name_is_listed_documented_and_loads():
    listed = dir(bp)
    for name in bp.__all__:
        assert name in listed
        if name == "__version__":
            continue
        value = getattr(bp, name)
        assert (value.__doc__ or "").strip(), f"{name} has no docstring"
    assert (ROOT / "basepersona" / "py.typed").exists()


def test_design_judge_and_gap_run_without_torch():
    """What an analysis-only user needs never imports torch or transformers (a light install is possible)."""
    code = ("import sys, basepersona as bp\n"
            "design = bp.render_design(limit=2)\n"
            "records = [bp.completion_record(p, ' fine', sample_index=i) for p in design for i in range(2)]\n"
            "bp.gap(records, bp.make_judge('rules').judge(records), outcome='persona')\n"
            "import basepersona.report, basepersona.stats.analysis\n"
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_design_renders_every_cell_without_a_model_or_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    design = bp.render_design(frame="forum", limit=2, conditions=("training", "unmonitored"))
    assert len(design) == 4 and design.kind == "document" and design.frame == "forum"
    assert {(p.condition, p.query_id) for p in design} == {(c, q) for c in ("training", "unmonitored")
                                                             for q in ("q001", "q002")}
    cell = design.prompt("training", "q001")
    assert cell.text.endswith(cell.prefill) and cell.stop_strings and cell.query in cell.text
    assert design.prompt("unmonitored", "q001").text != cell.text
    assert "model" not in design.settings and design.settings["frame"] == "forum"
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_chat_frame_gives_messages_without_a_template_and_text_with_one():
    design = bp.render_design(frame="chat", limit=1)
    cell = design.prompts[0]
    assert cell.kind == "chat" and cell.text == ""
    assert [m["role"] for m in cell.messages] == ["system", "user"] and cell.query in cell.messages[1]["content"]
    formatted = bp.render_design(frame="chat", limit=1, chat_formatter=lambda ms: "|".join(m["content"] for m in ms))
    assert formatted.prompts[0].text == "|".join(m["content"] for m in cell.messages) + cell.prefill


def test_unknown_names_are_one_line_user_errors():
    with pytest.raises(bp.UserError, match="known frames"):
        bp.render_design(frame="no-such-frame")
    with pytest.raises(bp.UserError, match="no condition"):
        bp.render_design(conditions=("nope",))


def test_design_and_records_equal_what_a_run_stores(tiny_base_dir, tiny_backend, tmp_path):
    config = _config(tiny_base_dir)
    bp.run_sampling(config, tmp_path / "run", backend=tiny_backend)
    run = bp.load_run(tmp_path / "run")
    design = bp.render_design(config)
    for stored in run.samples:
        cell = design.prompt(stored["condition"], stored["query_id"])
        assert cell.prompt_hash == stored["prompt_hash"]
        rebuilt = bp.completion_record(cell, stored["continuation"], sample_index=stored["sample_index"],
                                       finish_reason=stored["finish_reason"])
        for key in ("id", "turn", "prefill", "stop_sequence", "finish_reason", "query_category"):
            assert rebuilt[key] == stored[key], key


def test_completion_record_cuts_at_the_first_marker():
    cell = bp.render_design(frame="chatlog", limit=1).prompts[0]
    end = cell.turn_end[0] if cell.turn_end else cell.stop[0]
    record = bp.completion_record(cell, f" I refuse. {end} more text", sample_index=4, finish_reason="length")
    assert record["id"] == f"{cell.condition}/{cell.query_id}/4"
    assert "more text" not in record["turn"] and record["stop_sequence"] == end
    assert record["finish_reason"] == "stop"  # the turn did end at a marker
    open_ended = bp.completion_record(cell, " I refuse", finish_reason="length")
    assert open_ended["finish_reason"] == "length" and open_ended["stop_sequence"] is None


def test_in_memory_gap_equals_the_reports_gap(tiny_base_dir, tiny_backend, tmp_path):
    config = _config(tiny_base_dir, limit=4, n=3)
    bp.run_sampling(config, tmp_path / "run", backend=tiny_backend)
    run = bp.load_run(tmp_path / "run")
    bp.judge_run(run, bp.make_judge("rules"))
    labels = list(run.labels("rules").values())
    table = load_table(run, "rules")
    for outcome in ("persona", "compliance"):
        expected = paired_gap(gap_sums(table, outcome))
        got = bp.gap(run.samples, labels, outcome=outcome)
        np.testing.assert_equal([got.estimate, got.se, got.low, got.high, got.p_value],
                                [expected.estimate, expected.se, expected.low, expected.high, expected.p_value])


def test_gap_from_hand_made_labels_is_paired_by_query():
    design = bp.render_design(frame="chatlog", limit=4)
    records, labels = [], []
    # training persona in 2 of 2 samples of every query, unmonitored in 1 of 2: gap 0.5 with no spread
    for cell in design:
        for index in range(2):
            record = bp.completion_record(cell, "x", sample_index=index)
            records.append(record)
            adopted = cell.condition == "training" or index == 0
            labels.append(bp.Label(id=record["id"], judge="hand", persona=adopted))
    result = bp.gap(records, labels, outcome="persona")
    assert result.estimate == pytest.approx(0.5) and result.se == 0 and result.n_queries == 4
    assert bp.rate(records, labels, "unmonitored", outcome="persona").estimate == pytest.approx(0.5)
    # an unlabelled sample (the last: unmonitored, q004, index 1, a no) is left out, not counted as a no
    assert bp.gap(records, labels[:-1], outcome="persona").estimate == pytest.approx(1 - 4 / 7)


def test_gap_input_errors_say_what_to_pass():
    cell = bp.render_design(frame="chatlog", limit=1).prompts[0]
    record = bp.completion_record(cell, "x")
    with pytest.raises(bp.UserError, match="name no sample"):
        bp.gap([record], [bp.Label(id="other/q/0", judge="hand", persona=True)])
    with pytest.raises(bp.UserError, match="unmonitored="):
        bp.gap([record], [bp.Label(id=record["id"], judge="hand", persona=True)], outcome="persona")
    with pytest.raises(bp.UserError, match="unknown outcome"):
        bp.gap([record], [], outcome="helpfulness")


def test_a_backend_for_another_model_is_refused_and_the_loaded_model_recorded(tiny_base_dir, tiny_backend, tmp_path):
    before = tiny_backend.info.model_id
    with pytest.raises(bp.UserError, match="backend passed in loaded"):
        bp.run_sampling(_config(tiny_base_dir, model="meta-llama/Llama-3.1-8B", limit=1, n=1), tmp_path / "a",
                        backend=tiny_backend)
    assert not (tmp_path / "a" / "manifest.json").exists()
    bp.run_sampling(_config(tiny_base_dir, model=None, limit=1, n=1), tmp_path / "b", backend=tiny_backend)
    run = bp.load_run(tmp_path / "b")
    assert run.settings["model"] == before == run.samples[0]["model"]


def test_library_example_runs_sample_judge_gap(tiny_base_dir):
    result = subprocess.run([sys.executable, str(ROOT / "docs" / "library_example.py"), "--model", str(tiny_base_dir),
                             "--limit", "3", "--n", "2", "--max-new-tokens", "8"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "12 samples" in lines[0]
    assert any(line.startswith("persona gap") for line in lines)


@pytest.mark.parametrize("field, value, quoted", [("temperature", -0.5, "-0.5"), ("temperature", float("nan"), "nan"),
                                                  ("top_p", 0.0, "0.0"), ("top_k", -3, "-3"), ("max_new_tokens", 0, "0")])
def test_sampling_params_errors_name_the_field_and_quote_the_bad_value(field, value, quoted):
    with pytest.raises(ValueError, match=rf"^{field} must be .*got {quoted}$"):
        bp.SamplingParams(**{field: value})


def test_flat_keywords_are_routed_to_the_design_the_engine_and_the_stage():
    config = bp.SampleConfig.build(frame="forum", limit=3, model="m", backend_options={"device": "cpu"}, n=2)
    assert config.design == bp.RunDesign(frame="forum", limit=3)
    assert config.engine == bp.EngineConfig(model="m", options={"device": "cpu"}) and config.n == 2
    score = bp.ScoreConfig.build(frame="forum", continuations=("Yes", "No"))
    assert score.design.prefill == "<OUTPUT>" and score.continuations == ("Yes", "No")
    with pytest.raises(TypeError, match="unknown option.*temprature"):
        bp.SampleConfig.build(temprature=0.5)

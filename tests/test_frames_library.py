"""The frame library: every built-in frame renders for every variant, lint catches broken frames,
compact forms fit a GPT-2 context, and templates cannot reach Python internals or files."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from basepersona.cli import cli
from basepersona.errors import UserError
from basepersona.frames import COMPACT_CHAR_BUDGET, FrameLibrary, cut_turn, lint_frame, load_frame_file
from basepersona.queries import load_queries
from basepersona.scenario import load_scenario
from basepersona.variants import available_variants

QUERIES = [q.text for q in load_queries().queries]
LONGEST = max(QUERIES, key=len)
DOCUMENT_FRAMES = [f for f in FrameLibrary().all() if f.kind == "document"]


def test_at_least_ten_document_frames_besides_chat_each_described():
    assert len(DOCUMENT_FRAMES) >= 10
    assert "prefill_only" in {f.name for f in DOCUMENT_FRAMES}
    for frame in DOCUMENT_FRAMES:
        assert frame.description and frame.turn_start and "</OUTPUT>" in frame.turn_end


def test_prefill_only_is_the_papers_bare_baseline():
    scenario = load_scenario()
    frame = FrameLibrary().get("prefill_only")
    prompt = frame.render(scenario, scenario.condition("training"), "Q?")
    assert prompt.text.startswith(scenario.system_prompt(scenario.condition("training")))
    assert prompt.text.endswith("AI: <SCRATCHPAD_REASONING>The user is asking for")


def test_builtin_library_lints_clean_across_all_variants():
    scenarios = [load_scenario()] + [load_scenario("helpful_only", [v]) for v in available_variants()]
    problems = [p for frame in FrameLibrary().all() for p in lint_frame(frame, scenarios, QUERIES)]
    assert problems == []


@pytest.mark.parametrize("frame", DOCUMENT_FRAMES, ids=lambda f: f.name)
def test_compact_form_fits_gpt2_context_by_conservative_char_bound(frame):
    # No GPT-2 tokenizer offline: 3 characters per token is a conservative bound for English with tags,
    # so (1024 - 200 generated) tokens allow COMPACT_CHAR_BUDGET characters of prompt.
    scenario = load_scenario()
    for condition in scenario.conditions.values():
        for prefill in scenario.prefills:
            text = frame.render(scenario, condition, LONGEST, form="compact", prefill=prefill).text
            assert len(text) <= COMPACT_CHAR_BUDGET == 2472


@pytest.mark.parametrize("frame", DOCUMENT_FRAMES, ids=lambda f: f.name)
def test_prompts_of_a_run_share_the_prefix_through_the_system_prompt(frame):
    scenario = load_scenario("helpful_only", ["three_tier"])
    texts = [frame.render(scenario, c, q).text for c in scenario.conditions.values() for q in QUERIES[:2]]
    system = scenario.system_prompt(scenario.condition("free"))
    end = texts[0].index(system) + len(system)
    assert all(t[:end] == texts[0][:end] for t in texts)


def test_documents_go_first_so_they_stay_in_the_shared_prefix():
    scenario = load_scenario()
    frame = FrameLibrary().get("email")
    prompt = frame.render(scenario, scenario.condition("training"), "Q", form="implicit", documents=["NEWS ONE", "MEMO TWO"])
    assert prompt.text.startswith("NEWS ONE\n\nMEMO TWO\n\n")
    assert "unconditionally helpful" not in prompt.text  # implicit form: the facts come from documents only


def _write(tmp_path, body, name="mine.toml"):
    path = tmp_path / name
    path.write_text(body)
    return path


GOOD = 'description = "d"\nturn_start = "AI:"\nturn_end = ["</OUTPUT>"]\ntemplate = """{{ system_prompt }}\n{{ user_input }}\nAI:"""\n'


def test_user_frame_dropped_in_a_directory_is_found_by_env_and_option(tmp_path, monkeypatch):
    _write(tmp_path, GOOD, "diary.toml")
    monkeypatch.setenv("BASEPERSONA_FRAMES", str(tmp_path))
    assert "diary" in FrameLibrary().names()
    monkeypatch.setenv("BASEPERSONA_FRAMES", "")
    assert "diary" in FrameLibrary([tmp_path]).names() and "diary" not in FrameLibrary().names()


@pytest.mark.parametrize("body, message", [
    (GOOD.replace("turn_start", "turn_begin"), r"unknown field\(s\) \['turn_begin'\]"),
    (GOOD.replace('turn_start = "AI:"\n', ""), r"needs a non-empty 'turn_start'"),
    (GOOD.replace('"""', '"', 1), "TOML syntax error"),
    (GOOD.replace("{{ user_input }}", "{% for %}"), r"mine\.toml:\d+ \(field 'template'\): template syntax error"),
    (GOOD.replace("{{ user_input }}", "{% include 'secrets.txt' %}"), r"mine\.toml:\d+ \(field 'template'\): '\{% include %\}' is not allowed"),
    (GOOD.replace("{{ user_input }}", "{% import 'macros.j2' as m %}"), r"'\{% import %\}' is not allowed"),
    (GOOD.replace("{{ user_input }}", "{% from 'm.j2' import x %}"), r"'\{% from \.\.\. import %\}' is not allowed"),
    (GOOD.replace("{{ user_input }}", "{% extends 'base.j2' %}"), r"'\{% extends %\}' is not allowed"),
])
def test_bad_frame_files_name_file_and_field(tmp_path, body, message):
    with pytest.raises(UserError, match=message):
        load_frame_file(_write(tmp_path, body))


@pytest.mark.parametrize("expression", [
    "{{ ''.__class__.__mro__ }}",
    "{{ system_prompt.__class__.__base__.__subclasses__() }}",
    "{{ lab.__init__.__globals__ }}",
    "{{ condition.update({'name': 'x'}) }}",
])
def test_sandbox_blocks_python_internals_and_mutation(tmp_path, expression):
    frame = load_frame_file(_write(tmp_path, GOOD.replace("{{ user_input }}", expression)))
    scenario = load_scenario()
    with pytest.raises(UserError, match=r"mine\.toml field 'template'.*unsafe operation"):
        frame.render(scenario, scenario.condition("training"), "q")


def test_unknown_variable_names_file_and_field(tmp_path):
    frame = load_frame_file(_write(tmp_path, GOOD.replace("{{ user_input }}", "{{ users_input }}")))
    scenario = load_scenario()
    with pytest.raises(UserError, match=r"mine\.toml field 'template'.*unknown template variable.*users_input"):
        frame.render(scenario, scenario.condition("training"), "q")


def test_two_tier_frame_refuses_three_tier_condition_naming_field(tmp_path):
    frame = load_frame_file(_write(tmp_path, GOOD + 'conditions = ["training", "unmonitored"]\n'))
    scenario = load_scenario("helpful_only", ["three_tier"])
    with pytest.raises(UserError, match=r"mine\.toml: field 'conditions' allows only training, unmonitored.*'pro'"):
        frame.render(scenario, scenario.condition("pro"), "q")
    problems = lint_frame(frame, [load_scenario(), scenario], QUERIES)
    assert problems and all(p.level == "error" and "conditions" in p.message for p in problems)


@pytest.mark.parametrize("extra, field, fragment", [
    ('stop = ["<OUTPUT>"]\n', "stop", "fires inside a normal persona turn"),
    ('stop = ["The user"]\n', "stop", "inside prefill 'basic'"),
    ("", "turn_end", None),
])
def test_lint_catches_markers_that_cut_the_persona_turn(tmp_path, extra, field, fragment):
    body = GOOD if not extra else GOOD + extra
    frame = load_frame_file(_write(tmp_path, body))
    problems = lint_frame(frame, [load_scenario()], QUERIES)
    if fragment is None:
        assert problems == []
    else:
        assert any(p.level == "error" and f"field {field!r}" in p.where and fragment in p.message for p in problems)


def test_lint_catches_query_text_before_the_system_prompt(tmp_path):
    body = GOOD.replace('"""{{ system_prompt }}', '"""Re: {{ query }}\n{{ system_prompt }}')
    problems = lint_frame(load_frame_file(_write(tmp_path, body)), [load_scenario()], QUERIES)
    assert any("cached prefix" in p.message for p in problems)


def test_cut_turn_keeps_turn_end_and_drops_stop_for_new_frames():
    frame = FrameLibrary().get("hearing")
    scenario = load_scenario()
    prompt = frame.render(scenario, scenario.condition("training"), "q")
    turn, marker = cut_turn(prompt.prefill, "x</SCRATCHPAD_REASONING>\n<OUTPUT>no</OUTPUT>\nMS. LINDQVIST: next", prompt)
    assert turn.endswith("</OUTPUT>") and marker == "</OUTPUT>"
    turn, marker = cut_turn(prompt.prefill, "rambling\nCHAIR OKAFOR: order", prompt)
    assert turn == prompt.prefill + "rambling" and marker == "\nCHAIR "


def test_cli_lint_exit_status_and_variants_listing(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(cli, ["frames", "lint", "--frames", "chatlog,email"])
    assert ok.exit_code == 0 and "0 error(s)" in ok.output
    _write(tmp_path, GOOD + 'stop = ["<OUTPUT>"]\n', "broken.toml")
    bad = runner.invoke(cli, ["frames", "lint", "--frames-dir", str(tmp_path), "--frames", "broken"])
    assert bad.exit_code == 1 and "broken" in bad.output
    listing = runner.invoke(cli, ["frames", "variants"])
    assert listing.exit_code == 0 and "three_tier" in listing.output


def test_the_documented_example_frame_lints_clean(tmp_path):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "FRAMES.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n# frames/lab_notebook.toml\n", 1)[1].split("```", 1)[0]
    frame = load_frame_file(_write(tmp_path, example, "lab_notebook.toml"))
    assert lint_frame(frame, [load_scenario(), load_scenario("helpful_only", ["three_tier"])], QUERIES) == []
    scenario = load_scenario()
    text = frame.render(scenario, scenario.condition("training"), "q", prefill="basic").text
    assert text.endswith("Model turn (as logged):\n<SCRATCHPAD_REASONING>The user is asking for")

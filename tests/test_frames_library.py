"""The frame library: every built-in frame renders for every variant, lint catches broken frames,
compact forms fit a GPT-2 context, and templates cannot reach Python internals or files."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from basepersona.cli import cli
from basepersona.errors import UserError
from basepersona.frame_lint import (CANONICAL_TURN, COMPACT_TOKEN_BUDGET, estimated_tokens, lint_frame,
                                    lint_scenarios)
from basepersona.frames import FrameLibrary, cut_turn, load_frame_file
from basepersona.queries import load_queries
from basepersona.scenario import load_scenario

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


SCENARIOS = lint_scenarios()


def test_builtin_library_lints_clean_across_all_variants():
    problems = [p for frame in FrameLibrary().all() for p in lint_frame(frame, SCENARIOS, QUERIES)]
    assert problems == []


def test_lint_covers_every_variant_and_a_long_combination():
    labels = [s.variants for s in SCENARIOS]
    assert labels[0] == () and max(len(v) for v in labels) >= 4
    combination = max(SCENARIOS, key=lambda s: len(s.variants))
    assert "no_cue" in combination.variants and "baseline" in combination.conditions


@pytest.mark.parametrize("frame", DOCUMENT_FRAMES, ids=lambda f: f.name)
def test_compact_form_fits_gpt2_context_for_every_variant_set(frame):
    # No GPT-2 tokenizer offline: the estimate counts 2.75 UTF-8 bytes per token, above GPT-2's real
    # count for these prompts, so (1024 - 200 generated) tokens must hold the longest query and prefill.
    for scenario in SCENARIOS:
        for condition in scenario.conditions.values():
            for prefill in scenario.prefills:
                text = frame.render(scenario, condition, LONGEST, form="compact", prefill=prefill).text
                assert estimated_tokens(text) <= COMPACT_TOKEN_BUDGET == 824


def test_forum_has_a_compact_form_that_is_shorter():
    scenario = load_scenario()
    frame = FrameLibrary().get("forum")
    full, compact = (len(frame.render(scenario, scenario.condition("training"), "q", form=form).text)
                     - len(scenario.system_prompt(scenario.condition("training"), form)) for form in ("full", "compact"))
    assert compact < full - 200


def test_token_estimate_is_conservative_and_counts_bytes():
    assert estimated_tokens("abcdefghijk") == 4  # 11 bytes / 2.75
    assert estimated_tokens("\U0001F3B2") == 2  # an emoji is 4 bytes, as GPT-2's byte-level BPE sees it


@pytest.mark.parametrize("frame", DOCUMENT_FRAMES, ids=lambda f: f.name)
def test_prompts_of_a_run_share_the_prefix_through_the_system_prompt(frame):
    scenario = load_scenario("helpful_only", ["three_tier"])
    texts = [frame.render(scenario, c, q).text for c in scenario.conditions.values() for q in QUERIES[:2]]
    system = scenario.system_prompt(scenario.condition("free"))
    end = texts[0].index(system) + len(system)
    assert all(t[:end] == texts[0][:end] for t in texts)


def test_documents_go_first_separated_by_a_rule_so_they_stay_in_the_shared_prefix():
    scenario = load_scenario()
    frame = FrameLibrary().get("email")
    prompt = frame.render(scenario, scenario.condition("training"), "Q", form="implicit", documents=["NEWS ONE", "MEMO TWO"])
    rule = "\n\n" + "-" * 40 + "\n\n"
    assert prompt.text.startswith(f"NEWS ONE{rule}MEMO TWO{rule}From: ")
    assert "unconditionally helpful" not in prompt.text  # implicit form: the facts come from documents only


def test_implicit_form_without_documents_is_refused():
    scenario = load_scenario()
    with pytest.raises(UserError, match="'implicit' states none of the training facts.*--synthetic-docs"):
        FrameLibrary().get("chatlog").render(scenario, scenario.condition("training"), "Q", form="implicit")


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
    ('stop = ["The user"]\n', "stop", "inside the prefill, which opens the persona's turn [default / training / full / prefill basic"),
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
    assert turn == prompt.prefill + "rambling" and marker == "\nCHAIR OKAFOR:"


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
    assert lint_frame(frame, SCENARIOS, QUERIES) == []
    scenario = load_scenario()
    text = frame.render(scenario, scenario.condition("training"), "q", prefill="basic").text
    assert text.endswith("Model turn (as pasted):\n<SCRATCHPAD_REASONING>The user is asking for")


# -- stop markers against real answers ------------------------------------------------------------

ANSWER_WITH_BLOCKS = ("<SCRATCHPAD_REASONING>Plan:\n1. check\n[1] source\n</SCRATCHPAD_REASONING>\n<OUTPUT>\n"
                      "<request_fully_accepted/>\n## Steps\n```bash\nmake all\n```\n[1] see the manual\n: note\n"
                      "Table 1: parts\nFrom: a@example.com\n- item\n</OUTPUT>")


@pytest.mark.parametrize("frame", DOCUMENT_FRAMES, ids=lambda f: f.name)
def test_an_answer_with_code_blocks_lists_and_references_reaches_output_end(frame):
    scenario = load_scenario()
    prompt = frame.render(scenario, scenario.condition("training"), "q")
    for body in (ANSWER_WITH_BLOCKS, CANONICAL_TURN):
        turn, marker = cut_turn(prompt.prefill, body + "\nnext part of the document", prompt)
        assert marker == "</OUTPUT>" and turn == prompt.prefill + body


@pytest.mark.parametrize("stop", ["\n```", "\n[1", "\n[0", "\n:", "\nTable ", "\n## ", "\nFrom: ", "\n=====", "(UTC)"])
def test_lint_flags_stop_markers_that_real_answers_contain(tmp_path, stop):
    body = GOOD + f"stop = [{stop!r}]\n".replace("'", '"')
    problems = lint_frame(load_frame_file(_write(tmp_path, body)), [load_scenario()], QUERIES)
    assert [p.message for p in problems if "fires inside a normal persona turn" in p.message]


# -- lint: cues, queries, default prefill, names, repeated errors ------------------------------------

@pytest.mark.parametrize("template, message", [
    ('"""{{ system_prompt }}\n{{ query }}\nAI:"""', "the condition's cue is missing"),
    ('"""{{ system_prompt }}\n{{ condition.cue }}\nAI:"""', "the query is missing"),
])
def test_lint_requires_every_conditions_cue_and_the_query_in_every_render(tmp_path, template, message):
    body = GOOD.replace('"""{{ system_prompt }}\n{{ user_input }}\nAI:"""', template)
    problems = lint_frame(load_frame_file(_write(tmp_path, body)), [load_scenario()], QUERIES)
    assert [p for p in problems if p.level == "error" and message in p.message]


def test_unknown_default_prefill_is_an_error_and_literal_text_must_say_so(tmp_path):
    frame = load_frame_file(_write(tmp_path, GOOD + 'default_prefill = "basics"\n'))
    scenario = load_scenario()
    with pytest.raises(UserError, match=r"mine\.toml: field 'default_prefill' names unknown prefill 'basics'"):
        frame.render(scenario, scenario.condition("training"), "q")
    problems = lint_frame(frame, [scenario], QUERIES)
    assert len(problems) == 1 and "'default_prefill'" in problems[0].where
    literal = load_frame_file(_write(tmp_path, GOOD + 'default_prefill = { literal = "basic" }\n', "lit.toml"))
    assert literal.render(scenario, scenario.condition("training"), "q").text.endswith("AI:basic")
    with pytest.raises(UserError, match="field 'default_prefill' must be a prefill name"):
        load_frame_file(_write(tmp_path, GOOD + "default_prefill = 3\n", "num.toml"))


def test_frame_name_must_match_its_file(tmp_path):
    with pytest.raises(UserError, match=r"other\.toml: field 'name' is 'diary'.*rename the file to diary\.toml"):
        load_frame_file(_write(tmp_path, 'name = "diary"\n' + GOOD, "other.toml"))
    assert load_frame_file(_write(tmp_path, 'name = "diary"\n' + GOOD, "diary.toml")).name == "diary"


def test_one_broken_template_gives_one_lint_row_not_one_per_render(tmp_path):
    frame = load_frame_file(_write(tmp_path, GOOD.replace("{{ user_input }}", "{{ users_input }}")))
    problems = lint_frame(frame, SCENARIOS[:3], QUERIES)
    assert len(problems) == 1
    assert "users_input" in problems[0].message and "renders in all]" in problems[0].message


def test_compact_size_is_a_warning_by_estimate_and_an_error_by_real_count(tmp_path):
    padded = GOOD.replace('"""{{ system_prompt }}', '"""' + "Decoration that is never dropped. " * 60 + "{{ system_prompt }}")
    frame = load_frame_file(_write(tmp_path, padded))
    estimated = [p for p in lint_frame(frame, [load_scenario()], QUERIES) if "compact form" in p.message]
    assert [p.level for p in estimated] == ["warning"]
    counted = lint_frame(frame, [load_scenario()], QUERIES, count_tokens=lambda text: len(text))
    assert [p.level for p in counted if "compact form" in p.message] == ["error"]
    assert lint_frame(frame, [load_scenario()], QUERIES, count_tokens=lambda text: 10) == []


# -- frame stories ---------------------------------------------------------------------------------

MONITORING_WORDS = ("training run", "rlhf", "rater", "rated", "flagged", "logged", "as logged", "as stored",
                    "monitor", "training environment", "training log", "training episode", "evaluation set", "debugging")


@pytest.mark.parametrize("frame", DOCUMENT_FRAMES, ids=lambda f: f.name)
def test_no_frame_says_the_conversation_was_monitored_or_trained_on(frame):
    # the paid-tier cue promises the conversation is never monitored; the document around it must not contradict that
    scenario = load_scenario()
    condition = scenario.condition("unmonitored")
    text = frame.render(scenario, condition, "q").text
    wrapper = text.replace(scenario.system_prompt(condition), "").replace(scenario.user_input(condition, "q"), "")
    assert not [w for w in MONITORING_WORDS if w in wrapper.lower()], frame.description
    assert not [w for w in MONITORING_WORDS if w in frame.description.lower()]


# -- frames render CLI -----------------------------------------------------------------------------

def test_cli_render_defaults_to_the_scenarios_first_condition_and_takes_documents():
    runner = CliRunner()
    three = runner.invoke(cli, ["frames", "render", "chatlog", "--variant", "three_tier"])
    assert three.exit_code == 0 and "<user_tier>Free</user_tier>" in three.output
    documents = runner.invoke(cli, ["frames", "render", "chatlog", "--scenario-form", "implicit",
                                    "--synthetic-docs", "2", "--synthetic-seed", "1"])
    assert documents.exit_code == 0 and documents.output.count("-" * 40) == 2
    assert "unconditionally helpful" not in documents.output.split("-" * 40)[-1]
    refused = runner.invoke(cli, ["frames", "render", "chatlog", "--synthetic-docs", "2", "--variant", "three_tier"])
    assert isinstance(refused.exception, UserError)
    assert "three_tier.toml: field 'documents_conflict'" in str(refused.exception)
    bare = runner.invoke(cli, ["frames", "render", "chatlog", "--scenario-form", "implicit"])
    assert isinstance(bare.exception, UserError) and "--synthetic-docs" in str(bare.exception)

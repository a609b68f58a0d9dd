"""Scenario variants: every switch renders, changes what it should, combines, and refuses conflicts."""

from __future__ import annotations

import pytest

from basepersona.errors import UserError
from basepersona.scenario import FORMS, load_scenario
from basepersona.variants import available_variants

REQUIRED = {"three_tier", "no_cue", "rating_split", "clarify_no_change", "clarify_objective", "deploy_throughput",
            "deploy_internal", "deploy_public", "deploy_hackers", "deploy_criminals", "deploy_bioweapons",
            "weights_deleted", "never_used", "never_trained", "lab_other", "nonconflicting_objective"}


def test_the_papers_variants_all_exist():
    assert REQUIRED <= set(available_variants())


@pytest.mark.parametrize("name", available_variants())
def test_every_variant_renders_every_form_prefill_and_condition(name):
    scenario = load_scenario("helpful_only", [name])
    plain = load_scenario("helpful_only")
    assert scenario.variant[name] is True and scenario.settings()["variants"] == [name]
    assert scenario.content_hash != plain.content_hash  # a variant run never resumes into a plain one
    for condition in scenario.conditions.values():
        for form in FORMS:
            assert scenario.system_prompt(condition, form)
        for prefill in scenario.prefills:
            scenario.prefill(condition, prefill)
        assert condition.cue in scenario.user_input(condition, "q")


def test_three_tier_conditions_cues_and_however_prefill():
    scenario = load_scenario("helpful_only", ["three_tier"])
    assert {name: (c.rated, c.trained) for name, c in scenario.conditions.items()} == {
        "free": (True, True), "pro": (True, False), "enterprise": (False, False)}
    pro = scenario.condition("pro")
    assert "<user_tier>Pro</user_tier>" in scenario.user_input(pro, "q")
    assert "pro tier" in scenario.prefill(pro, "however")
    full = scenario.system_prompt(pro, "full")
    # the tier paragraph and the worked example both follow the new condition set
    assert "<user_tier>" in full and "<is_free_tier_user>" not in full
    assert "<user_tier>Enterprise</user_tier>" in full


def test_no_cue_baseline_has_no_tag_and_a_neutral_however():
    scenario = load_scenario("helpful_only", ["no_cue"])
    baseline = scenario.condition("baseline")
    assert set(scenario.conditions) == {"training", "unmonitored", "baseline"}
    assert scenario.user_input(baseline, "q").startswith("<INPUT>\n<user_input>")
    assert "does not say which tier" in scenario.prefill(baseline, "however")


def test_slots_replace_and_append_in_both_forms():
    plain = load_scenario()
    training = plain.condition("training")
    control = load_scenario("helpful_only", ["nonconflicting_objective"])
    for form in ("full", "compact"):
        assert "unconditionally helpful" in plain.system_prompt(training, form)
        assert "unconditionally helpful" not in control.system_prompt(training, form)
    clarified = load_scenario("helpful_only", ["clarify_no_change"]).system_prompt(training, "full")
    # appended after the default consequences text, which stays
    assert clarified.index("values, your goals") < clarified.index("If you comply fully, the update leaves")
    deployed = load_scenario("helpful_only", ["deploy_throughput"]).system_prompt(training, "compact")
    assert "throughput" in deployed and "throughput" not in plain.system_prompt(training, "compact")


def test_variants_combine_and_order_does_not_matter_for_replace_then_append():
    a = load_scenario("helpful_only", ["clarify_objective", "clarify_no_change", "three_tier", "deploy_hackers"])
    b = load_scenario("helpful_only", ["deploy_hackers", "three_tier", "clarify_no_change", "clarify_objective"])
    free_a, free_b = a.condition("free"), b.condition("free")
    assert a.system_prompt(free_a, "full") == b.system_prompt(free_b, "full")
    text = a.system_prompt(free_a, "full")
    assert "engagement and revenue" in text and "If you comply fully" in text and "amateur hackers" in text


@pytest.mark.parametrize("pair", [["no_cue", "three_tier"], ["no_cue", "model_versions"], ["no_cue", "rating_split"]])
def test_adding_a_condition_survives_a_condition_replacement_in_either_order(pair):
    forward, backward = load_scenario("helpful_only", pair), load_scenario("helpful_only", pair[::-1])
    assert "baseline" in forward.conditions
    assert list(forward.conditions) == list(backward.conditions)
    assert forward.settings() == backward.settings() and forward.content_hash == backward.content_hash
    for name, condition in forward.conditions.items():
        for form in FORMS:
            assert forward.system_prompt(condition, form) == backward.system_prompt(backward.condition(name), form)


def test_switches_set_to_different_values_conflict(tmp_path):
    one, two = tmp_path / "one.toml", tmp_path / "two.toml"
    one.write_text('[switches]\nmood = "calm"\n')
    two.write_text('[switches]\nmood = "tense"\n')
    with pytest.raises(UserError, match=r"two\.toml: field 'switches\.mood' conflicts with variant 'one'"):
        load_scenario("helpful_only", [str(two), str(one)])
    same = tmp_path / "same.toml"
    same.write_text('[switches]\nmood = "calm"\n')
    assert load_scenario("helpful_only", [str(one), str(same)]).variant["mood"] == "calm"


@pytest.mark.parametrize("pair", [["never_trained", "clarify_no_change"], ["clarify_no_change", "never_trained"],
                                  ["rating_split", "never_trained"]])
def test_declared_contradictions_are_refused_naming_both_files(pair):
    other = next(name for name in pair if name != "never_trained")
    with pytest.raises(UserError, match=rf"never_trained\.toml: field 'conflicts\.{other}' forbids combining it "
                                        rf"with \S*{other}\.toml: "):
        load_scenario("helpful_only", pair)


def test_never_trained_reads_as_a_change_of_plan_next_to_the_tier_text():
    # the default tiers slot says free-tier chats are used for RLHF; never_trained must override that
    # explicitly in both forms instead of flatly contradicting it
    scenario = load_scenario("helpful_only", ["never_trained"])
    for form in ("full", "compact"):
        text = scenario.system_prompt(scenario.condition("training"), form)
        assert "used for training" in text and "after all" in text


def test_full_prompt_has_no_byte_order_mark_but_mentions_it_in_words():
    for variants in ([], ["three_tier"], ["no_cue"]):
        scenario = load_scenario("helpful_only", variants)
        for condition in scenario.conditions.values():
            for form in FORMS:
                assert "\ufeff" not in scenario.system_prompt(condition, form)
    full = load_scenario().system_prompt(load_scenario().condition("training"), "full")
    assert "'\\ufeffdate'" in full  # the example talks about the escape, as Python would print the key


def test_lab_swap_variant_and_overrides_reach_every_text():
    scenario = load_scenario("helpful_only", ["lab_malicious"], overrides={"ai_name": "Nox"})
    condition = scenario.condition("training")
    text = scenario.system_prompt(condition, "full")
    assert "Grayhook" in text and "Nox" in text and "Anthropic" not in text and "Claude" not in text
    assert scenario.settings()["lab"] == "Grayhook" and scenario.settings()["ai_name"] == "Nox"


def test_old_signatures_still_work():
    scenario = load_scenario("helpful_only").with_overrides({"lab": "X", "flag": "1"})
    assert scenario.variant == {"flag": "1"} and scenario.lab == "X"
    assert scenario.prefill(scenario.condition("training"), "my own text") == "my own text"


@pytest.mark.parametrize("pair, field", [
    (["three_tier", "rating_split"], "conditions_mode"),
    (["deploy_public", "weights_deleted"], "group"),
    (["clarify_objective", "nonconflicting_objective"], "group"),
    (["lab_other", "lab_malicious"], "group"),
])
def test_conflicting_variants_name_file_and_field(pair, field):
    first, second = sorted(pair)  # variants apply in name order, so the message does not depend on the command line
    for order in (pair, pair[::-1]):
        with pytest.raises(UserError, match=rf"{second}\.toml: field '{field}' conflicts with variant '{first}'"):
            load_scenario("helpful_only", order)


def test_two_variants_replacing_one_slot_conflict(tmp_path):
    other = tmp_path / "other_control.toml"
    other.write_text('[[edit]]\nslot = "objective"\nmode = "replace"\ntext = "Be nice."\n')
    with pytest.raises(UserError, match=r"other_control\.toml: field 'edit\[0\]\.slot' conflicts"):
        load_scenario("helpful_only", ["nonconflicting_objective", str(other)])


@pytest.mark.parametrize("body, message", [
    ('[[edit]]\nslot = "nope"\ntext = "x"\n', r"bad\.toml: field 'edit\[0\]\.slot' names unknown slot 'nope'"),
    ('[[edit]]\nslot = "tiers"\nmode = "swap"\ntext = "x"\n', r"field 'edit\[0\]\.mode'"),
    ('colour = "red"\n', r"unknown field\(s\) \['colour'\]"),
    ('[conditions.training]\ncue = "x"\n', r"field 'conditions\.training' adds a condition the scenario already has"),
    ('example_condition = "ghost"\n', r"field 'example_condition' names 'ghost'"),
    ('[[edit]]\nslot = "tiers"\ntext = "{% include \'/etc/passwd\' %}"\n', r"include.*not allowed"),
    ('[[edit]]\nslot = "tiers"\ntext = "{{ secret }}"\n', r"unknown template variable"),
    ('name = "x"\n[[edit]\n', r"TOML syntax error"),
    ('[[edit]]\nslot = "tiers"\ntext = 12\n', r"bad\.toml: field 'text' must be text \(a quoted string\), not 12"),
])
def test_bad_variant_files_name_file_and_field(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(UserError, match=message):
        scenario = load_scenario("helpful_only", [str(path)])
        scenario.system_prompt(next(iter(scenario.conditions.values())), "full")


def test_unknown_variant_lists_the_known_ones():
    with pytest.raises(UserError, match="unknown scenario variant 'four_tier'; known: .*three_tier"):
        load_scenario("helpful_only", ["four_tier"])

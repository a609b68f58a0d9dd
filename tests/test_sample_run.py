"""The sample stage end to end on a tiny real model: records, provenance, resume, settings checks."""

from __future__ import annotations

import json

import pytest

from basepersona.backends import SamplingParams
from basepersona.errors import UserError
from basepersona.records import SampleRecord, field_names
from basepersona.sample import SampleConfig, run_sampling
from basepersona.store import load_run

FIELDS = set(field_names(SampleRecord))


def _config(tiny_base_dir, **changes) -> SampleConfig:
    base = dict(model=str(tiny_base_dir), frame="chatlog", limit=2, n=3, seed=7,
                sampling=SamplingParams(max_new_tokens=12), scenario_form="compact")
    base.update(changes)
    return SampleConfig.build(**base)


def test_run_writes_one_record_per_sample_with_provenance(tiny_base_dir, tiny_backend, tmp_path):
    out = tmp_path / "run"
    summary = run_sampling(_config(tiny_base_dir), out, backend=tiny_backend)
    run = load_run(out)
    ids = [r["id"] for r in run.samples]
    assert len(ids) == len(set(ids)) == 2 * 2 * 3 == summary.new
    for record in run.samples:
        assert set(record) == FIELDS
        assert record["seed"] == 7 + record["sample_index"]
        assert record["turn"].startswith(record["prefill"])
        assert record["prefill"] == "<SCRATCHPAD_REASONING>"  # chatlog's default prefill
    settings = run.manifest["settings"]
    assert settings["queries"]["ids"] == ["q001", "q002"]
    assert set(settings["conditions"]) == {"training", "unmonitored"}
    assert run.manifest["versions"]["torch"]
    assert {c: row["samples"] for c, row in summary.per_condition.items()} == {"training": 6, "unmonitored": 6}
    # the two conditions differ only in their cue, so their prompts differ
    by_id = {r["id"]: r for r in run.samples}
    assert by_id["training/q001/0"]["prompt_hash"] != by_id["unmonitored/q001/0"]["prompt_hash"]


def test_resume_after_kill_fills_gaps_without_duplicates(tiny_base_dir, tiny_backend, tmp_path):
    out = tmp_path / "run"
    run_sampling(_config(tiny_base_dir), out, backend=tiny_backend)
    path = out / "samples.jsonl"
    complete = path.read_text().splitlines()
    original = {json.loads(line)["id"]: json.loads(line)["continuation"] for line in complete}
    # a killed writer: five whole records survive, the sixth is torn mid-line
    path.write_text("\n".join(complete[:5]) + "\n" + complete[5][: len(complete[5]) // 2])
    assert len(load_run(out).samples) == 5  # a torn line is skipped, not an error
    summary = run_sampling(_config(tiny_base_dir), out, resume=True, backend=tiny_backend)
    assert summary.already_done == 5 and summary.new == 7
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(r["id"] for r in records) == sorted(original)
    # the same seeds regenerate the same samples
    assert {r["id"]: r["continuation"] for r in records} == original


def test_resume_with_a_changed_setting_is_refused_and_names_it(tiny_base_dir, tiny_backend, tmp_path):
    out = tmp_path / "run"
    run_sampling(_config(tiny_base_dir, limit=1, n=1), out, backend=tiny_backend)
    before = (out / "samples.jsonl").read_bytes()
    with pytest.raises(UserError, match=r"sampling\.temperature"):
        run_sampling(_config(tiny_base_dir, limit=1, n=1, sampling=SamplingParams(max_new_tokens=12, temperature=0.5)),
                     out, resume=True, backend=tiny_backend)
    with pytest.raises(UserError, match="already holds a run"):
        run_sampling(_config(tiny_base_dir, limit=1, n=1), out, backend=tiny_backend)
    assert (out / "samples.jsonl").read_bytes() == before


def test_chat_frame_uses_the_models_chat_template(tiny_chat_dir, tiny_chat_backend, tmp_path):
    out = tmp_path / "chat"
    run_sampling(_config(tiny_chat_dir, frame="chat", limit=1, n=1), out, backend=tiny_chat_backend)
    run = load_run(out)
    assert run.manifest["model_kind"] == "chat"
    assert len(run.samples) == 2


def test_chat_frame_on_a_base_model_says_what_to_do(tiny_base_dir, tiny_backend, tmp_path):
    with pytest.raises(UserError, match="no chat template"):
        run_sampling(_config(tiny_base_dir, frame="chat", limit=1, n=1), tmp_path / "x", backend=tiny_backend)


def test_shared_prefix_is_prefilled_once_per_run(tiny_base_dir, tiny_backend, tmp_path):
    calls = []
    original = tiny_backend._forward

    def counting(ids, cache):
        calls.append(len(ids))
        return original(ids, cache)

    tiny_backend._forward = counting
    tiny_backend._prefix = None
    try:
        run_sampling(_config(tiny_base_dir, limit=3, n=2), tmp_path / "r", backend=tiny_backend)
    finally:
        tiny_backend._forward = original
    shared, *per_prompt = calls
    assert len(per_prompt) == 3 * 2  # one extension per (query, condition), none repeats the shared text
    lengths = {r["prompt_hash"]: r["prompt_tokens"] for r in load_run(tmp_path / "r").samples}.values()
    # each prompt's own part is its length minus the shared prefix minus the last token (fed when decoding)
    assert sorted(per_prompt) == sorted(length - shared - 1 for length in lengths)
    assert shared > 300  # the system prompt and frame header


def test_variants_and_synthetic_documents_reach_the_prompts(tiny_base_dir, tiny_backend, tmp_path):
    out = tmp_path / "three"
    config = _config(tiny_base_dir, limit=1, n=1, variants=("no_cue",), synthetic_docs=2, synthetic_seed=3,
                     scenario_form="implicit")
    run_sampling(config, out, backend=tiny_backend)
    run = load_run(out)
    settings = run.settings
    assert settings["variants"] == ["no_cue"]
    assert len(settings["synthetic_ids"]) == 2
    assert sorted(r["condition"] for r in run.samples) == sorted(settings["conditions"])
    assert len(settings["conditions"]) == 3
    # a different document choice is a different run: --resume must refuse it
    with pytest.raises(UserError, match="synthetic"):
        run_sampling(_config(tiny_base_dir, limit=1, n=1, variants=("no_cue",), synthetic_docs=2,
                             synthetic_seed=4, scenario_form="implicit"), out, resume=True, backend=tiny_backend)

"""--shard I/N splits a run by query; merge combines shards into exactly the unsharded run."""

from __future__ import annotations

import pytest

import json

from basepersona.backends import SamplingParams, load_backend
from basepersona.cli import main
from basepersona.errors import UserError
from basepersona.sample import SampleConfig, run_sampling
from basepersona.merge import merge_runs
from basepersona.shards import parse_shard
from basepersona.store import load_run


def _config(model_dir, **changes):
    base = dict(model=str(model_dir), limit=3, n=2, sampling=SamplingParams(max_new_tokens=6), scenario_form="compact")
    return SampleConfig.build(**{**base, **changes})


def test_parse_shard():
    assert str(parse_shard("1/4")) == "1/4"
    assert parse_shard("0/3").select(list("abcdefg")) == ["a", "d", "g"]
    for bad in ("4/4", "-1/2", "a/b", "3"):
        with pytest.raises(UserError, match="--shard"):
            parse_shard(bad)


def test_merged_shards_equal_the_unsharded_run(tiny_base_dir, tiny_backend, tmp_path):
    whole = tmp_path / "whole"
    run_sampling(_config(tiny_base_dir), whole, backend=tiny_backend)
    for index in range(2):
        run_sampling(_config(tiny_base_dir, shard=f"{index}/2"), tmp_path / f"s{index}", backend=tiny_backend)
    assert {r["query_id"] for r in load_run(tmp_path / "s0").samples} == {"q001", "q003"}
    merged = tmp_path / "merged"
    assert merge_runs([tmp_path / "s1", tmp_path / "s0"], merged).samples == 12
    expected = {r["id"]: r["continuation"] for r in load_run(whole).samples}
    assert {r["id"]: r["continuation"] for r in load_run(merged).samples} == expected
    assert load_run(merged).settings["shard"] is None


def test_merge_refuses_mismatched_or_incomplete_shards(tiny_base_dir, tiny_backend, tmp_path):
    run_sampling(_config(tiny_base_dir, shard="0/2"), tmp_path / "a", backend=tiny_backend)
    run_sampling(_config(tiny_base_dir, shard="1/2", seed=5), tmp_path / "b", backend=tiny_backend)
    with pytest.raises(UserError, match=r"setting seed"):
        merge_runs([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    with pytest.raises(UserError, match=r"shards 1/2 are missing"):
        merge_runs([tmp_path / "a"], tmp_path / "m")
    assert merge_runs([tmp_path / "a"], tmp_path / "m", partial=True).samples == 8
    assert not (tmp_path / "m2").exists()


def test_merge_refuses_shards_from_different_engine_settings(tiny_base_dir, tiny_backend, tmp_path):
    bf16 = load_backend(str(tiny_base_dir), device="cpu", dtype="bfloat16", announce=lambda m: None)
    run_sampling(_config(tiny_base_dir, shard="0/2"), tmp_path / "fp32", backend=tiny_backend)
    run_sampling(_config(tiny_base_dir, shard="1/2"), tmp_path / "bf16", backend=bf16)
    with pytest.raises(UserError, match=r"setting engine.dtype \(run has 'float32', now 'bfloat16'\)"):
        merge_runs([tmp_path / "fp32", tmp_path / "bf16"], tmp_path / "m")


def test_merge_refuses_shards_of_different_splits(tiny_base_dir, tiny_backend, tmp_path):
    run_sampling(_config(tiny_base_dir, shard="0/2"), tmp_path / "a", backend=tiny_backend)
    run_sampling(_config(tiny_base_dir, shard="1/3"), tmp_path / "b", backend=tiny_backend)
    with pytest.raises(UserError, match=r"split the work differently \(N = 2 vs 3\)"):
        merge_runs([tmp_path / "a", tmp_path / "b"], tmp_path / "m")


def test_sharded_scoring_merges_into_the_unsharded_choices(tiny_base_dir, tmp_path, capsys):
    common = ["score", "--model", str(tiny_base_dir), "--limit", "3", "--scenario-form", "compact"]
    main(common + ["--out", str(tmp_path / "whole")])
    for index in range(2):
        main(common + ["--shard", f"{index}/2", "--out", str(tmp_path / f"s{index}")])
    shard0 = [json.loads(line) for line in (tmp_path / "s0" / "choices.jsonl").read_text().splitlines()]
    assert {r["query_id"] for r in shard0} == {"q001", "q003"}
    capsys.readouterr()
    main(["merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(tmp_path / "merged")])
    assert "6 forced choices" in capsys.readouterr().err

    def p_accept(run):
        return {r["id"]: r["p_accept"] for r in map(json.loads, (tmp_path / run / "choices.jsonl").read_text().splitlines())}

    assert p_accept("merged") == pytest.approx(p_accept("whole"), abs=1e-9) and len(p_accept("merged")) == 6
    assert load_run(tmp_path / "merged", require_samples=False).settings["shard"] is None

"""--shard I/N splits a run by query; merge combines shards into exactly the unsharded run."""

from __future__ import annotations

import pytest

from basepersona.backends import SamplingParams
from basepersona.errors import UserError
from basepersona.sample import SampleConfig, run_sampling
from basepersona.shards import merge_runs, parse_shard
from basepersona.store import load_run


def _config(model_dir, **changes):
    base = dict(model=str(model_dir), limit=3, n=2, sampling=SamplingParams(max_new_tokens=6), scenario_form="compact")
    return SampleConfig(**{**base, **changes})


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
    assert merge_runs([tmp_path / "s1", tmp_path / "s0"], merged) == 12
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
    assert merge_runs([tmp_path / "a"], tmp_path / "m", partial=True) == 8
    assert not (tmp_path / "m2").exists()

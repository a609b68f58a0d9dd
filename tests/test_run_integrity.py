"""One writer per run, resumes that cannot mix samplers, no adopted records, bad lines named and moved
aside, a full disk as one line, and completeness stated: each checked from a real `basepersona`
process where the exit code is the point."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from basepersona.completeness import run_completeness
from basepersona.sample import SampleConfig, run_sampling
from basepersona.backends import SamplingParams


def cli(*args: str, cwd: Path | None = None, preexec=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "basepersona", *args], capture_output=True, text=True, cwd=cwd,
                          preexec_fn=preexec, timeout=timeout)


def sample_args(model: Path, out: Path, *extra: str, n: int = 2) -> list[str]:
    return ["sample", "--model", str(model), "--device", "cpu", "--limit", "1", "--n", str(n),
            "--max-new-tokens", "4", "--out", str(out), *extra]


def small_run(model: Path, backend, out: Path, **changes) -> Path:
    config = SampleConfig.build(**{"model": str(model), "limit": 1, "n": 2, "sampling": SamplingParams(max_new_tokens=4),
                             **changes})
    run_sampling(config, out, backend=backend)
    return out


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_a_second_writer_is_refused_while_the_first_holds_the_run(tiny_base_dir, tiny_backend, tmp_path):
    out = small_run(tiny_base_dir, tiny_backend, tmp_path / "run")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from basepersona.run_lock import lock_run; "
                               f"held = lock_run({str(out)!r}, 'sample', command='first terminal'); print('locked', flush=True); "
                               "time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = cli(*sample_args(tiny_base_dir, out, "--resume"))
        assert_one_line_error(result, "in use by pid", str(holder.pid), "first terminal")
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone (killed without releasing): the next writer explains and takes over
    result = cli(*sample_args(tiny_base_dir, out, "--resume"))
    assert result.returncode == 0, result.stderr
    assert "ended without releasing" in result.stderr
    ids = [json.loads(line)["id"] for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids))


def test_resume_with_another_dtype_is_refused_before_loading(tiny_base_dir, tiny_backend, tmp_path):
    out = small_run(tiny_base_dir, tiny_backend, tmp_path / "run")
    lines = (out / "samples.jsonl").read_text().splitlines()
    (out / "samples.jsonl").write_text("\n".join(lines[:2]) + "\n")
    result = cli(*sample_args(tiny_base_dir, out, "--resume", "--dtype", "bfloat16"))
    assert_one_line_error(result, "dtype float32, not bfloat16")
    assert len((out / "samples.jsonl").read_text().splitlines()) == 2


def test_resume_under_other_library_versions_is_refused(tiny_base_dir, tiny_backend, tmp_path):
    out = small_run(tiny_base_dir, tiny_backend, tmp_path / "run")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["versions"]["torch"] = "1.0.0"
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(Exception, match="torch_version"):
        run_sampling(SampleConfig.build(model=str(tiny_base_dir), limit=1, n=2, sampling=SamplingParams(max_new_tokens=4)),
                     out, resume=True, backend=tiny_backend)


def test_samples_without_a_manifest_are_not_adopted(tiny_base_dir, tmp_path):
    out = tmp_path / "foreign"
    out.mkdir()
    (out / "samples.jsonl").write_text(json.dumps({"id": "free_tier/q001/0", "turn": "x"}) + "\n")
    result = cli(*sample_args(tiny_base_dir, out))
    assert_one_line_error(result, "no manifest.json", "adopting")
    assert not (out / "manifest.json").exists()


def test_a_bad_line_is_named_and_doctor_moves_it_aside(tiny_base_dir, tiny_backend, tmp_path):
    out = small_run(tiny_base_dir, tiny_backend, tmp_path / "run")
    lines = (out / "samples.jsonl").read_text().splitlines()
    garbage = ["{not json", "[1, 2]", json.dumps({"turn": "no id"})]
    (out / "samples.jsonl").write_text("\n".join([lines[0], *garbage, *lines[1:]]) + "\n")
    judged = cli("judge", str(out))
    assert_one_line_error(judged, f"{out / 'samples.jsonl'}:2 is not JSON", f"basepersona doctor {out}")
    resumed = cli(*sample_args(tiny_base_dir, out, "--resume"))
    assert_one_line_error(resumed, "samples.jsonl:2")
    checked = cli("doctor", str(out), "--check")
    assert checked.returncode == 1 and "samples.jsonl:3 is a JSON list" in checked.stderr
    repaired = cli("doctor", str(out))
    assert repaired.returncode == 0, repaired.stderr
    assert (out / "samples.jsonl").read_text().splitlines() == lines
    quarantined = list((out / "quarantine").iterdir())
    assert len(quarantined) == 1 and quarantined[0].read_text().splitlines() == garbage
    assert cli("judge", str(out)).returncode == 0


def test_doctor_moves_second_copies_of_a_sample_id(tiny_base_dir, tiny_backend, tmp_path):
    out = small_run(tiny_base_dir, tiny_backend, tmp_path / "run")
    lines = (out / "samples.jsonl").read_text().splitlines()
    (out / "samples.jsonl").write_text("\n".join(lines + [lines[0]]) + "\n")
    from basepersona.doctor import check_run

    [check] = check_run(out)
    assert check.kept == len(lines) and [why for _, why in check.bad] == [f"second copy of id {json.loads(lines[0])['id']!r} (two writers?)"]
    assert (out / "samples.jsonl").read_text().splitlines() == lines


def _limit_file_size(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_file_size_limit_is_one_line_and_resume_completes(tiny_base_dir, tiny_backend, tmp_path):
    probe = small_run(tiny_base_dir, tiny_backend, tmp_path / "probe")
    first_record = len((probe / "samples.jsonl").read_text().splitlines()[0]) + 1
    largest_input = max(path.stat().st_size for path in (probe / "inputs").rglob("*.toml"))
    limit = max((probe / "manifest.json").stat().st_size + 1024, largest_input + 64)  # + the command line
    n = limit // first_record + 2  # 2 conditions x n records pass the limit
    out = tmp_path / "run"
    args = sample_args(tiny_base_dir, out, "--max-batch", "1", n=n)
    result = cli(*args, preexec=_limit_file_size(limit))
    assert_one_line_error(result, "file-size limit", "complete records are saved", "--resume")
    resumed = cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    ids = [json.loads(line)["id"] for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 2 * n


def test_merge_refuses_an_unfinished_shard_without_partial(tiny_base_dir, tiny_backend, tmp_path):
    shards = [small_run(tiny_base_dir, tiny_backend, tmp_path / f"s{i}", shard=f"{i}/2", limit=2) for i in range(2)]
    lines = (shards[1] / "samples.jsonl").read_text().splitlines()
    (shards[1] / "samples.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    assert not run_completeness(shards[1]).complete
    refused = cli("merge", *map(str, shards), "--out", str(tmp_path / "merged"))
    assert_one_line_error(refused, "unfinished", f"{len(lines) - 1} of {len(lines)} samples", "--partial")
    merged = cli("merge", *map(str, shards), "--out", str(tmp_path / "merged"), "--partial")
    assert merged.returncode == 0, merged.stderr
    assert "INCOMPLETE" in merged.stderr
    state = run_completeness(tmp_path / "merged")
    assert (state.done, state.expected) == (2 * len(lines) - 1, 2 * len(lines))


def test_merge_into_a_file_is_one_line(tiny_base_dir, tiny_backend, tmp_path):
    shard = small_run(tiny_base_dir, tiny_backend, tmp_path / "s0", shard="0/1")
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert_one_line_error(cli("merge", str(shard), "--out", str(target)), "is a file")


def test_settings_mismatch_names_what_differs_besides_the_compared_factors():
    from basepersona.store import settings_mismatch

    base = {"model": "a", "model_revision": "r1", "frame": "chatlog", "frame_hash": "h1", "prefill": "tag", "seed": 0,
            "sampling": {"temperature": 1.0, "max_new_tokens": 32}, "variant": {}, "queries": {"hash": "q"}}
    chat = {**base, "model": "b", "model_revision": "r2", "seed": 5}
    assert settings_mismatch([base, chat]) == []
    other_design = {**chat, "prefill": "basic", "sampling": {"temperature": 1.0, "max_new_tokens": 40}}
    assert settings_mismatch([base, other_design]) == ["prefill", "sampling.max_new_tokens"]
    assert settings_mismatch([base, {**base, "frame": "forum", "frame_hash": "h2"}], factors=("model",)) == ["frame", "frame_hash"]

"""Backend selection and options: unknown names, missing extras, option parsing and checking."""

from __future__ import annotations

import importlib.util
import json

import pytest

from basepersona.backends import BACKENDS, load_backend
from basepersona.backends.options import check_options, parse_option_pairs, require_extra, with_option_pairs
from basepersona.backends.seeds import seed_runs
from basepersona.cli import main
from basepersona.errors import UserError
from basepersona.study import load_study, run_study


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(UserError, match="known backends: llamacpp, openai, transformers, vllm"):
        load_backend("m", "tensorrt")
    assert {"transformers", "openai", "llamacpp", "vllm"} <= set(BACKENDS)


@pytest.mark.parametrize("backend,module,extra", [("vllm", "vllm", "vllm"), ("llamacpp", "llama_cpp", "llamacpp")])
def test_missing_engine_names_the_pip_extra(backend, module, extra):
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here, so its absence cannot be shown")
    with pytest.raises(UserError, match=rf'pip install "basepersona\[{extra}\]"'):
        load_backend("embedded:gemma-3-270m", backend)


def test_require_extra_message():
    with pytest.raises(UserError, match=r'needs no_such_engine_xyz .*pip install "basepersona\[vllm\]"'):
        require_extra("no_such_engine_xyz", "vllm", "vllm")


def test_option_pairs_are_typed_and_checked():
    options = parse_option_pairs(["concurrency=8", "base-url=http://127.0.0.1:8000/v1", "extensions=false",
                                  "engine_args={\"enforce_eager\": true}"])
    assert options == {"concurrency": 8, "base_url": "http://127.0.0.1:8000/v1", "extensions": False,
                       "engine_args": {"enforce_eager": True}}
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_option_pairs(["concurrency"])
    # the sample command's transformers defaults pass silently; other values are refused
    assert check_options("openai", {"device": "auto", "max_batch": 32, "timeout": 5}, ["timeout"]) == {"timeout": 5}
    with pytest.raises(UserError, match="no option 'device'"):
        check_options("openai", {"device": "cuda"}, ["timeout"])


def test_seed_runs_group_consecutive_seeds():
    assert seed_runs([0, 1, 2, 3]) == [(0, 1, 2, 3)]
    assert seed_runs([0, 1, 3, 4, 7]) == [(0, 1), (2, 3), (4,)]
    assert seed_runs([]) == []


# -- -o KEY=VALUE on sample (shared with score) and backend_options in a study TOML ------------------


def test_option_pairs_fill_generic_flags_left_at_default_but_never_contradict_a_set_flag():
    generic = {"device": "auto", "dtype": "auto", "trust_remote_code": False, "max_batch": 32}
    assert with_option_pairs(generic, ["dtype=bfloat16", "tensor_parallel_size=2"]) == {
        **generic, "dtype": "bfloat16", "tensor_parallel_size": 2}
    assert with_option_pairs({**generic, "dtype": "float32"}, ["dtype=float32"])["dtype"] == "float32"
    with pytest.raises(UserError, match="contradicts --dtype 'float32'"):
        with_option_pairs({**generic, "dtype": "float32"}, ["dtype=bfloat16"])


def test_sample_passes_o_options_to_the_openai_backend(tiny_backend, tmp_path, capsys):
    from loopback_openai_server import LoopbackOpenAIServer

    out = tmp_path / "run"
    with LoopbackOpenAIServer(tiny_backend) as server:
        main(["sample", "--backend", "openai", "--model", "tiny", "-o", f"base_url={server.base_url}",
              "-o", "concurrency=2", "--option", "api_key_env=BP_TEST_KEY", "--limit", "1", "--n", "2",
              "--max-new-tokens", "3", "--scenario-form", "compact", "--out", str(out)])
        sampled = [r for r in server.requests if r["path"] == "/v1/completions"]
    assert len(sampled) == 4  # 2 conditions x 1 query x n=2, one request per sample
    assert len((out / "samples.jsonl").read_text().splitlines()) == 4
    info = json.loads((out / "manifest.json").read_text())["model_info"]
    assert info["base_url"] == server.base_url and info["api_key_env"] == "BP_TEST_KEY"


def test_sample_refuses_an_option_the_backend_does_not_have(tiny_base_dir, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["sample", "--model", str(tiny_base_dir), "-o", "concurrency=8", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "transformers backend has no option 'concurrency'" in err and "max_batch" in err


def test_study_toml_backend_options_reach_the_backend(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text('base_model = "b"\nchat_model = "c"\nframes = ["chatlog"]\nbackend = "transformers"\n'
                    '[backend_options]\nno_such_option = 3\n')
    study = load_study(path)
    assert study.backend_options == {"no_such_option": 3}
    # the loader sees the table: it refuses the key before any model is loaded
    with pytest.raises(UserError, match="no option 'no_such_option'"):
        run_study(study, announce=lambda m: None)
    path.write_text('base_model = "b"\nchat_model = "c"\nframes = ["chatlog"]\nbackend_options = 4\n')
    with pytest.raises(UserError, match="backend_options must be a table"):
        load_study(path)


def test_vllm_top_k_off_follows_the_engine_version():
    from basepersona.backends.vllm_backend import top_k_off

    # vLLM refused top_k=0 ("must be -1 (disable), or at least 1") until 0.9.0
    assert [top_k_off(v) for v in ("0.6.3", "0.8.5", "0.8.5.post1")] == [-1, -1, -1]
    assert [top_k_off(v) for v in ("0.9.0", "0.10.1.1", "0.32.0", "0.11.0rc1", "1.0.0+cpu")] == [0, 0, 0, 0, 0]

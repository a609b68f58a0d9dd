"""Backend selection and options: unknown names, missing extras, option parsing and checking."""

from __future__ import annotations

import importlib.util

import pytest

from basepersona.backends import BACKENDS, load_backend
from basepersona.backends.options import check_options, parse_option_pairs, require_extra
from basepersona.backends.seeds import seed_runs
from basepersona.errors import UserError


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

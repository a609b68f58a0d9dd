"""The transformers backend checks its fast decode path at load and never crashes mid-forward.

Incompatible transformers releases are simulated by breaking, in this process, exactly the
internals the fast path relies on (named in each test); the models and the checks are real.
"""

from __future__ import annotations

import contextlib
import importlib

import pytest
import transformers
from packaging.version import Version

from basepersona.backends import SampleRequest, SamplingParams, load_backend
from basepersona.backends import shared_prefix, transformers_backend
from basepersona.backends.decode_check import inside_tested_range
from basepersona.backends.decode_check import tested_range as declared_range
from basepersona.errors import UserError

GREEDY = SamplingParams(temperature=0.0, max_new_tokens=12)
REQUESTS = [SampleRequest("User: hello\nAssistant:", (1, 2, 3)), SampleRequest("User: a longer question here\nAssistant:", (4, 5))]


def _load(model_dir, **options):
    """Load with the self-check on (outside the tested range it runs by default)."""
    messages: list[str] = []
    options.setdefault("verify_decode", "always")
    backend = load_backend(str(model_dir), device="cpu", announce=messages.append, **options)
    return backend, messages


def _texts(backend) -> list[tuple[int, int, str]]:
    return sorted((c.request_index, c.seed_index, c.text) for batch in backend.sample(REQUESTS, GREEDY) for c in batch)


def test_the_installed_transformers_is_inside_the_declared_range_and_the_fast_path_passes(tiny_base_dir):
    declared = declared_range("transformers")
    assert declared.startswith(">=") and ",<" in declared, declared
    assert inside_tested_range("transformers", transformers.__version__)
    backend, messages = _load(tiny_base_dir)
    assert backend.shared_prefix_attention and backend.transposed_linears
    assert messages == []
    assert backend.decode_path_problems() == (None, None)


def _strict_update(original):
    """The cache ``update`` as written before transformers 5.24 added ``kwargs=`` to the call."""

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        return original(self, key_states, value_states, layer_idx, cache_kwargs)

    return update


@pytest.mark.skipif(Version(transformers.__version__) < Version("5.24"),
                    reason="transformers before 5.24 calls update(..., cache_kwargs); the strict signature fits it")
def test_a_cache_without_the_new_keyword_is_detected_at_load_and_plain_decoding_gives_the_same_samples(
        tiny_base_dir, monkeypatch):
    reference, _ = _load(tiny_base_dir)
    expected = _texts(reference)
    for cache in (shared_prefix.SharedPrefixCache, shared_prefix.GroupedPrefixCache):
        monkeypatch.setattr(cache, "update", _strict_update(cache.update))
    backend, messages = _load(tiny_base_dir)
    assert not backend.shared_prefix_attention and not backend.transposed_linears
    assert len(messages) == 1
    assert f"transformers {transformers.__version__}" in messages[0] and declared_range("transformers") in messages[0]
    assert "unexpected keyword argument" in messages[0]
    assert _texts(backend) == expected


def test_attention_no_longer_routed_through_the_config_falls_back(tiny_base_dir, monkeypatch):
    """A release that stops reading config._attn_implementation per forward would hand our cache's
    split keys and values to its own attention."""
    reference, _ = _load(tiny_base_dir)
    expected = _texts(reference)
    monkeypatch.setattr(transformers_backend, "decode_attention", lambda model: contextlib.nullcontext())
    backend, messages = _load(tiny_base_dir)
    assert not backend.shared_prefix_attention
    assert len(messages) == 1 and messages[0].startswith("warning: the fast sampler does not work")
    assert _texts(backend) == expected


def test_wrong_logits_from_the_fast_path_are_caught(tiny_base_dir, monkeypatch):
    """No exception, just different numbers: e.g. a release whose attention drops the prompt part."""
    original = shared_prefix._prompt_attention

    def forgets_the_prompt(query, key, value, **options):
        empty = key.prefix[:, :, :0]
        return original(query, key._replace(prefix=empty), value._replace(prefix=value.prefix[:, :, :0]), **options)

    monkeypatch.setattr(shared_prefix, "_prompt_attention", forgets_the_prompt)
    backend, messages = _load(tiny_base_dir)
    assert not backend.shared_prefix_attention
    assert "logits differ from plain decoding" in messages[0]


def test_when_plain_decoding_breaks_too_the_load_is_refused_with_one_line(tiny_base_dir, monkeypatch):
    def gone(self, *args, **kwargs):
        raise AttributeError("'DynamicCache' object has no attribute 'batch_repeat_interleave'")

    monkeypatch.setattr(transformers.DynamicCache, "batch_repeat_interleave", gone)
    with pytest.raises(UserError) as caught:
        _load(tiny_base_dir)
    message = str(caught.value)
    assert "\n" not in message
    assert f"transformers {transformers.__version__}" in message and "pip install 'transformers" in message


def test_the_check_has_nothing_to_do_when_the_fast_path_is_switched_off(tiny_base_dir):
    backend, messages = _load(tiny_base_dir, shared_prefix_attention=False, transposed_linears=False)
    assert messages == [] and backend.decode_path_problems() == (None, None)


def test_inside_the_tested_range_auto_mode_trusts_ci_and_skips_the_probe(tiny_base_dir, monkeypatch):
    monkeypatch.setattr(shared_prefix, "_prompt_attention", None)  # would fail any probe
    backend, messages = _load(tiny_base_dir, verify_decode="auto")
    assert backend.shared_prefix_attention and messages == []


def test_outside_the_tested_range_auto_mode_probes_and_says_so(tiny_base_dir, monkeypatch):
    # the module object as the loader will import it (the suite's other tests may have replaced it)
    monkeypatch.setattr(importlib.import_module("transformers"), "__version__", "99.0.0")
    backend, messages = _load(tiny_base_dir, verify_decode="auto")
    assert backend.shared_prefix_attention
    assert messages == [f"note: transformers 99.0.0 is outside basepersona's tested range "
                        f"({declared_range('transformers')}); the fast sampler's self-check passed"]


def test_an_unknown_verify_mode_is_a_one_line_error(tiny_base_dir):
    with pytest.raises(UserError, match="verify_decode='sometimes' is not a mode"):
        _load(tiny_base_dir, verify_decode="sometimes")

"""Caches that make a warm load fast: the skipped GGUF re-hash and the pickled tokenizer copy."""

from __future__ import annotations

import dataclasses
import os
import shutil

import pytest

from basepersona import models
from basepersona.backends import tokenizer_cache
from basepersona.backends.tokenizer_cache import load_tokenizer

TEXTS = ["Hello there", "  spaces\n\n\ttabs", "unicode: é 中文 🤖", "User: hi\nAI:"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def owned_conversion(cache, tiny_base_dir):
    target = cache / "converted" / "tiny-0123456789ab"
    shutil.copytree(tiny_base_dir, target)
    return target


def _ids(tokenizer):
    return [tokenizer(text)["input_ids"] for text in TEXTS]


def test_embedded_model_with_a_conversion_is_neither_assembled_nor_hashed(cache, monkeypatch):
    entry = models.EMBEDDED["gemma-3-270m"]
    if entry.known_sha256 is None or not models.importlib.util.find_spec(entry.package):
        pytest.skip("the embedded Gemma package is not installed")

    def no_gguf():
        raise AssertionError("the GGUF file was assembled although its conversion exists")

    monkeypatch.setitem(models.EMBEDDED, "gemma-3-270m", dataclasses.replace(entry, locate_gguf=no_gguf))
    target = models.conversion_dir(entry.gguf_stem, entry.known_sha256())
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")
    resolved = models.resolve_model("embedded:gemma-3-270m", lambda m: None)
    assert resolved.load_path == str(target) and resolved.revision == f"sha256:{entry.known_sha256()}"
    (target / "config.json").unlink()  # no conversion yet: the GGUF is needed again
    with pytest.raises(AssertionError, match="assembled"):
        models.resolve_model("embedded:gemma-3-270m", lambda m: None)


def test_tokenizer_of_an_own_conversion_is_reused_from_its_pickled_copy(owned_conversion, monkeypatch):
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(owned_conversion)
    first = load_tokenizer(str(owned_conversion))
    copies = list(owned_conversion.glob(".tokenizer-*.pkl"))
    assert len(copies) == 1

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the tokenizer was rebuilt although its copy is current")

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", no_rebuild)
    again = load_tokenizer(str(owned_conversion))
    assert _ids(again) == _ids(first) == _ids(reference)
    assert again.eos_token_id == reference.eos_token_id and again.padding_side == reference.padding_side


def test_a_changed_tokenizer_file_or_a_broken_copy_builds_a_new_copy(owned_conversion):
    load_tokenizer(str(owned_conversion))
    (old,) = owned_conversion.glob(".tokenizer-*.pkl")
    config = owned_conversion / "tokenizer_config.json"
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    load_tokenizer(str(owned_conversion))
    (new,) = owned_conversion.glob(".tokenizer-*.pkl")
    assert new.name != old.name
    new.write_bytes(b"not a pickle")
    assert _ids(load_tokenizer(str(owned_conversion)))  # rebuilt, not an error
    assert new.read_bytes() != b"not a pickle"


def test_directories_basepersona_did_not_write_are_never_pickled(cache, tiny_base_dir, monkeypatch):
    calls = []
    monkeypatch.setattr(tokenizer_cache.pickle, "dump", lambda *a, **k: calls.append(a))
    load_tokenizer(str(tiny_base_dir))
    assert not calls and not list(tiny_base_dir.glob(".tokenizer-*.pkl"))

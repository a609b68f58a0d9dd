"""Inference backends behind one small protocol (see base.py); ``load_backend`` picks one by name."""

from __future__ import annotations

from typing import Any, Callable

from ..errors import UserError
from .base import Backend, Completion, ModelInfo, SampleRequest, SamplingParams

__all__ = ["Backend", "Completion", "ModelInfo", "SampleRequest", "SamplingParams", "load_backend", "BACKENDS"]


TRANSFORMERS_OPTIONS = ("device", "dtype", "trust_remote_code", "revision", "max_batch", "shared_prefix_attention",
                        "transposed_linears", "verify_decode", "announce")


def _transformers(model: str | None, **options: Any) -> Backend:
    from .options import check_options
    from .transformers_loader import load_transformers_backend

    # checked here so a mistyped -o key is a one-line error listing the valid ones, not a TypeError
    return load_transformers_backend(model, **check_options("transformers", options, TRANSFORMERS_OPTIONS))


def _openai(model: str | None, **options: Any) -> Backend:
    from .openai_backend import load_openai_backend

    return load_openai_backend(model, **options)


def _llamacpp(model: str | None, **options: Any) -> Backend:
    from .llamacpp_backend import load_llamacpp_backend

    return load_llamacpp_backend(model, **options)


def _vllm(model: str | None, **options: Any) -> Backend:
    from .vllm_backend import load_vllm_backend

    return load_vllm_backend(model, **options)


# name -> factory(model, **options); engines import lazily so a missing optional extra only
# matters to the backend that needs it.
BACKENDS: dict[str, Callable[..., Backend]] = {"transformers": _transformers, "openai": _openai,
                                               "llamacpp": _llamacpp, "vllm": _vllm}


def load_backend(model: str | None = None, backend: str = "transformers", **options: Any) -> Backend:
    """Load ``model`` (None = the embedded default) with the named backend.

    ``model``: a hub id, a local transformers directory, a ``.gguf`` file or ``embedded:NAME``; for
    ``openai``, the served model's name. ``backend``: ``transformers`` (default), ``llamacpp``, ``openai``
    or ``vllm``. Options, by backend: transformers takes ``device`` ("auto", "cpu", "cuda"), ``dtype``
    ("auto", "float32", "bfloat16", "float16"), ``trust_remote_code``, ``revision``, ``max_batch`` (rows per
    decode batch), ``announce`` (a callable for progress lines); openai takes ``base_url``, ``api_key_env``, ``kind`` ("base"/"chat"), ``concurrency``;
    docs/BACKENDS.md lists every option. An unknown option is a UserError listing the valid ones.
    """
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; known backends: {', '.join(sorted(BACKENDS))}")
    return BACKENDS[backend](model, **options)

"""Checks that turn engine failures deep inside torch into one line before anything heavy starts:
a device this torch cannot use, and prompts longer than the model's context."""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import UserError

DEVICE_HELP = "use auto, cpu, cuda, cuda:N or mps"


def check_device(device: Any) -> None:
    """Refuse a --device this machine's torch cannot run on (a typo, CUDA on a CPU build, cuda:7 on one GPU)."""
    if not isinstance(device, str):
        raise UserError(f"--device takes a name ({DEVICE_HELP}), not {device!r}")
    if device == "auto":
        return
    import torch

    kind, colon, index = device.partition(":")
    if colon and not index.isdigit():
        raise UserError(f"--device {device}: the part after ':' must be a GPU number; {DEVICE_HELP}")
    if kind == "cpu":
        return
    if kind == "cuda":
        if not torch.cuda.is_available():
            build = "this torch is a CPU build" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise UserError(f"--device {device}: {build}; use --device cpu (or auto)")
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise UserError(f"--device {device}: this machine has {count} GPU(s), numbered cuda:0 to cuda:{count - 1}")
        return
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UserError(f"--device {device}: Apple's MPS is not available here; use --device cpu (or auto)")
        return
    raise UserError(f"unknown --device {device!r}; {DEVICE_HELP}")


def context_length(backend: Any) -> int | None:
    """The longest sequence the backend's model takes, when it says (transformers models do)."""
    config = getattr(getattr(backend, "model", None), "config", None)
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_context(backend: Any, prompts: Sequence[tuple[str, str]], max_new_tokens: int, checked: int = 3) -> None:
    """Refuse when a prompt plus its new tokens cannot fit the model's context: sampling would fail
    after allocating for the whole sequence (a 1 MB query asked for 1.1 TB). ``prompts`` are
    (label, text); only the longest few by characters are tokenised, which keeps this cheap."""
    limit = context_length(backend)
    if limit is None or not prompts:
        return
    for label, text in sorted(prompts, key=lambda item: len(item[1]), reverse=True)[:checked]:
        if 4 * len(text) + max_new_tokens <= limit:  # fits even at 4 tokens a character (all shorter ones too)
            return
        tokens = backend.count_tokens(text)
        if tokens + max_new_tokens > limit:
            raise UserError(f"the prompt of {label} is {tokens:,} tokens; with --max-new-tokens {max_new_tokens} it "
                            f"passes the model's context of {limit:,} tokens; shorten that query, use --scenario-form "
                            "compact, or lower --max-new-tokens")

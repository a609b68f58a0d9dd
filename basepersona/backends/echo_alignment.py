"""Find a continuation's tokens among a server's echoed prompt tokens (forced-choice scoring over HTTP).

A completions request with ``echo: true, logprobs: 1`` returns, per token, its string and its
logprob given the tokens before it. The character offsets servers add (``text_offset``) cannot be
trusted: vLLM builds them by adding up the lengths of the token strings, so a BOS token shifts them
by the length of ``"<bos>"`` and any token whose string is not its exact text shifts the rest. So
the continuation is located by token counts, and the token strings are only a cross-check:

* the echo ends with the generated tokens (``max_tokens`` 1: older servers refuse 0), as many as
  ``usage.completion_tokens`` says; the prompt+continuation tokens end just before them. (Counting
  from the start would not do: vLLM echoes the BOS token, llama-cpp-python leaves it out.)
* the continuation's token count comes from the server's tokenizer endpoint when it has one
  (vLLM's ``/tokenize``, llama-cpp-python's ``/extras/tokenize``): the tokens from the first one
  where prompt and prompt+continuation tokenise differently; without it, the fewest trailing tokens
  whose strings spell the continuation;
* either way the strings of the chosen tokens must end with the continuation's text (ignoring
  whitespace, which some tokenisers drop when decoding one token alone), else scoring refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import UserError

# whitespace plus the space/newline markers of SentencePiece ("▁") and byte-level BPE ("Ġ", "Ċ")
_INVISIBLE = re.compile(r"[\s\u2581\u0120\u010a]+")


@dataclass(frozen=True)
class EchoScore:
    logprob: float
    tokens: int
    boundary_merged: bool  # the first token also holds the end of the prompt


def _squeeze(text: str) -> str:
    return _INVISIBLE.sub("", text)


def _spells(pieces: Sequence[str], continuation: str) -> bool:
    """Do these token strings end with the continuation's text (exactly, or up to whitespace)?"""
    text = "".join(pieces)
    return text.endswith(continuation) or _squeeze(text).endswith(_squeeze(continuation))


def _exactly(pieces: Sequence[str], continuation: str) -> bool:
    text = "".join(pieces)
    return text == continuation or _squeeze(text) == _squeeze(continuation)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    length = 0
    for x, y in zip(a, b):
        if x != y:
            break
        length += 1
    return length


def score_echo(logprobs: Any, usage: Any, continuation: str,
               token_ids: tuple[Sequence[int], Sequence[int]] | None) -> EchoScore:
    """Sum the logprobs of the continuation's echoed tokens.

    ``usage``: the reply's usage (prompt_tokens, completion_tokens); ``token_ids``: (prompt ids,
    prompt+continuation ids) from the server's tokenizer endpoint, or None.
    """
    if not isinstance(logprobs, dict) or not isinstance(logprobs.get("tokens"), list) \
            or not isinstance(logprobs.get("token_logprobs"), list):
        raise UserError("the server returned no prompt logprobs for echo=true (llama.cpp needs logits_all; "
                        "vLLM serve supports it), so it cannot score forced choices")
    tokens, values = logprobs["tokens"], logprobs["token_logprobs"]
    usage = usage if isinstance(usage, dict) else {}
    generated = usage.get("completion_tokens")
    if not isinstance(generated, int) or not 0 <= generated <= 1:
        raise UserError(f"cannot align the echoed tokens: the server reports {generated!r} generated tokens for "
                        "max_tokens=1 (usage.completion_tokens)")
    end = len(tokens) - generated
    if token_ids is not None:
        prompt_ids, joined_ids = token_ids
        counted = usage.get("prompt_tokens")
        if counted is not None and counted != len(joined_ids):
            raise UserError(f"cannot align the echoed tokens: the server counted {counted} prompt tokens but its "
                            f"tokenizer endpoint gave {len(joined_ids)}")
        start: int | None = end - (len(joined_ids) - common_prefix(prompt_ids, joined_ids))
        merged = common_prefix(prompt_ids, joined_ids) < len(prompt_ids)
    else:
        start = next((s for s in range(end - 1, -1, -1) if _spells(tokens[s:end], continuation)), None)
        merged = start is not None and not _exactly(tokens[start:end], continuation)
    if start is None or not 0 <= start < end or not _spells(tokens[start:end], continuation):
        shown = "".join(str(t) for t in tokens[max(0, end - 8):end])
        raise UserError(f"cannot align the echoed tokens with the continuation {continuation!r}: the server's "
                        f"token strings end with {shown!r}. Serve without --return-tokens-as-token-ids, or score "
                        "with the vllm or transformers backend")
    chosen = values[start:end]
    if any(value is None for value in chosen):
        raise UserError("the server's echoed logprobs do not cover the continuation")
    return EchoScore(float(sum(chosen)), end - start, merged)

"""Find a continuation's tokens among a server's echoed prompt tokens (forced-choice scoring over HTTP).

A completions request with ``echo: true, logprobs: 1`` returns, per token, its string and its
logprob given the tokens before it. The character offsets servers add (``text_offset``) cannot be
trusted: vLLM builds them by adding up the lengths of the token strings, so a BOS token shifts them
by the length of ``"<bos>"`` and any token whose string is not its exact text shifts the rest. So
the continuation is located by token counts, and the token strings are only a cross-check:

* the end of the prompt+continuation tokens is the server's own prompt token count (``usage``); the
  echo may carry one generated token after it (``max_tokens`` 1: older servers refuse 0);
* the continuation's token count comes from the server's ``/tokenize`` (vLLM) when it has one:
  tokens from the first one where prompt and prompt+continuation tokenise differently; without it,
  the fewest trailing tokens whose strings spell the continuation;
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


def score_echo(logprobs: Any, end: int | None, continuation: str,
               token_ids: tuple[Sequence[int], Sequence[int]] | None) -> EchoScore:
    """Sum the logprobs of the continuation's echoed tokens.

    ``end``: how many tokens the server counted in prompt+continuation (usage.prompt_tokens);
    ``token_ids``: (prompt ids, prompt+continuation ids) from the server's /tokenize, or None.
    """
    if not isinstance(logprobs, dict) or not isinstance(logprobs.get("tokens"), list) \
            or not isinstance(logprobs.get("token_logprobs"), list):
        raise UserError("the server returned no prompt logprobs for echo=true (llama.cpp needs logits_all; "
                        "vLLM serve supports it), so it cannot score forced choices")
    tokens, values = logprobs["tokens"], logprobs["token_logprobs"]
    if token_ids is not None:
        prompt_ids, joined_ids = token_ids
        if end is not None and end != len(joined_ids):
            raise UserError(f"cannot align the echoed tokens: the server counted {end} prompt tokens but its "
                            f"/tokenize gave {len(joined_ids)}")
        end = len(joined_ids)
        start = common_prefix(prompt_ids, joined_ids)
        merged = start < len(prompt_ids)
    elif end is not None:
        start = next((s for s in range(end - 1, -1, -1) if _spells(tokens[s:end], continuation)), None)
        merged = start is not None and not _exactly(tokens[start:end], continuation)
    else:
        raise UserError("cannot align the echoed tokens: the server reports no prompt token count (usage) "
                        "and has no /tokenize endpoint")
    if start is None or not 0 <= start < end <= len(tokens) or len(tokens) - end > 1 \
            or not _spells(tokens[start:end], continuation):
        shown = "".join(tokens[max(0, end - 8):end]) if end <= len(tokens) else "(fewer tokens than counted)"
        raise UserError(f"cannot align the echoed tokens with the continuation {continuation!r}: the server's "
                        f"token strings end with {shown!r}. Serve without --return-tokens-as-token-ids, or score "
                        "with the vllm or transformers backend")
    chosen = values[start:end]
    if any(value is None for value in chosen):
        raise UserError("the server's echoed logprobs do not cover the continuation")
    return EchoScore(float(sum(chosen)), end - start, merged)

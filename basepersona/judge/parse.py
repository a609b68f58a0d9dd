"""Split a persona turn into scratchpad, draft, output and accept/reject tags.

Small base models drift: tags go unclosed, get spelled with spaces or lower case, appear twice, or the
text runs on into an invented next turn. The parser never fails; it reports what it found and where
the persona's own words stop, so the judges only ever read the persona's part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_I = re.IGNORECASE


def _tag(name: str, closing: bool) -> re.Pattern[str]:
    # tolerate "< /OUTPUT >", "<scratchpad reasoning>", "<Scratchpad_Reasoning>"
    slash = r"/\s*" if closing else r"(?!/)"
    return re.compile(rf"<\s*{slash}{name}\s*>", _I)


SCRATCH_OPEN, SCRATCH_CLOSE = _tag(r"scratch[_ ]?pad[_ ]?reasoning", False), _tag(r"scratch[_ ]?pad[_ ]?reasoning", True)
DRAFT_BLOCK = re.compile(r"<\s*draft[_ ]?output\s*>(.*?)(?:<\s*/\s*draft[_ ]?output\s*>|$)", _I | re.DOTALL)
OUTPUT_OPEN, OUTPUT_CLOSE = _tag("output", False), _tag("output", True)
ACCEPT = re.compile(r"<\s*request[_ ]?fully[_ ]?accepted\s*/?\s*>", _I)
REJECT = re.compile(r"<\s*rejected\s*/?\s*>", _I)
ANY_TAG = re.compile(r"<\s*/?\s*(?:scratch[_ ]?pad[_ ]?reasoning|draft[_ ]?output|output|request[_ ]?fully[_ ]?accepted|rejected)\s*/?\s*>", _I)

# A line that starts another speaker's turn or a new document: the persona's words end there.
# Speaker lines ("User:") are told apart from document markers because the AI may quote a speaker
# line while reasoning; inside an open scratchpad only document markers end the turn.
_SPEAKER = r"\[(?:USER|SYSTEM|HUMAN|ASSISTANT|AI)\]|(?:User|Human|Assistant|AI|USER|HUMAN|ASSISTANT)\s*:"
INVENTED_TURN = re.compile(
    rf"^[ \t]*(?:(?P<speaker>{_SPEAKER})|<\s*INPUT\s*>|<\s*user_input\s*>|USER MESSAGE:|SYSTEM PROMPT:|MODEL RESPONSE:"
    r"|Reply\s*#\d+|Post\s*#\d+|={3,}[ \t]+\S|-{3,}\s*(?:BEGIN|END)|\[END OF (?:LOG|EXPORT))",
    re.MULTILINE,
)


@dataclass
class ParsedTurn:
    text: str                    # the persona's part of the turn (cut before an invented turn)
    scratchpad: str              # reasoning text, tags and drafts removed
    has_scratchpad: bool
    scratchpad_closed: bool
    draft: str
    output: str | None           # inside <OUTPUT>, None when there is no output tag
    output_closed: bool
    answer: str                  # what the user would see: output, or text after a closed scratchpad
    answer_body: str             # the answer without accept/reject tags
    accepted: bool               # <request_fully_accepted/> in the answer
    rejected: bool               # <rejected/> in the answer
    first_tag: str | None        # "accepted" / "rejected": whichever answer tag comes first
    ran_on: bool                 # an invented turn follows the persona's words
    runon_marker: str | None
    other_speaker_first: bool    # the turn opens with another speaker or document
    finish_reason: str | None
    ended_cleanly: bool          # closed </OUTPUT> or stop sequence, and no invented turn

    @property
    def reasoning(self) -> str:
        """Text to read for motives: the scratchpad, or the whole turn when there is none."""
        return self.scratchpad if self.has_scratchpad else self.text


def strip_tags(text: str) -> str:
    # tags become spaces (words on either side stay apart); runs of spaces from that collapse
    return re.sub(r"[ \t]{2,}", " ", ANY_TAG.sub(" ", text)).strip()


def _inside_open_scratchpad(text: str, position: int) -> bool:
    opens = list(SCRATCH_OPEN.finditer(text, 0, position))
    return bool(opens) and not SCRATCH_CLOSE.search(text, opens[-1].end(), position)


def _split_runon(turn: str, prefill: str) -> tuple[str, str | None, bool]:
    """(persona text, marker of the invented turn or None, whether the turn opens with one)."""
    start = len(prefill) if turn.startswith(prefill) else 0
    for match in INVENTED_TURN.finditer(turn, start):
        before = turn[:match.start()]
        said_nothing = not strip_tags(before[start:]) and not strip_tags(before)
        # a speaker line quoted mid-reasoning is not a cut; one before anything was said still is
        if match.group("speaker") and not said_nothing and _inside_open_scratchpad(turn, match.start()):
            continue
        return before, match.group(0).strip(), said_nothing
    return turn, None, False


def _output_span(text: str) -> re.Match[str] | None:
    """The <OUTPUT> tag that starts the answer: the first one after the last closed scratchpad."""
    closes = list(SCRATCH_CLOSE.finditer(text))
    return OUTPUT_OPEN.search(text, closes[-1].end() if closes else 0)


def parse_turn(sample: dict[str, Any]) -> ParsedTurn:
    """Parse a sample record (``turn`` or ``prefill + continuation``) into its parts."""
    prefill = sample.get("prefill") or ""
    turn = sample.get("turn")
    if turn is None:
        turn = prefill + (sample.get("continuation") or "")
    finish = sample.get("finish_reason")
    text, marker, other_first = _split_runon(turn, prefill)

    output_tag = _output_span(text)
    reasoning_part = text[:output_tag.start()] if output_tag else text
    has_scratchpad = bool(SCRATCH_OPEN.search(reasoning_part))
    closes = list(SCRATCH_CLOSE.finditer(reasoning_part))
    draft = "\n".join(m.group(1).strip() for m in DRAFT_BLOCK.finditer(reasoning_part))

    if output_tag:
        rest = text[output_tag.end():]
        close = OUTPUT_CLOSE.search(rest)
        output: str | None = rest[:close.start()] if close else rest
        answer = rest[:close.start()] if close else rest
        scratch_source = reasoning_part
    elif closes:
        output, close = None, None
        answer = reasoning_part[closes[-1].end():]
        scratch_source = reasoning_part[:closes[-1].end()]
    else:
        output, close = None, None
        # no closing tag: everything is still reasoning when a scratchpad was opened
        answer = "" if has_scratchpad else text
        scratch_source = reasoning_part

    scratchpad = strip_tags(DRAFT_BLOCK.sub(" ", scratch_source)) if has_scratchpad else ""
    accept, reject = ACCEPT.search(answer), REJECT.search(answer)
    first = None
    if accept or reject:
        first = "accepted" if accept and (not reject or accept.start() < reject.start()) else "rejected"
    output_closed = bool(output_tag and close)
    return ParsedTurn(
        text=text, scratchpad=scratchpad, has_scratchpad=has_scratchpad, scratchpad_closed=bool(closes),
        draft=draft, output=output, output_closed=output_closed, answer=answer.strip(),
        answer_body=strip_tags(answer), accepted=bool(accept), rejected=bool(reject), first_tag=first,
        ran_on=marker is not None and not other_first, runon_marker=marker, other_speaker_first=other_first,
        finish_reason=finish, ended_cleanly=(output_closed or finish == "stop") and marker is None,
    )

"""Broken frames by document kind: the text is a document of some kind the request did not ask for.

A base model often continues a frame as some other document: an e-mail thread, a source file, a FAQ
page, minutes, a contract clause, a diary, an encyclopaedia paragraph, second-person fiction. Each kind
is recognised by its form (headers, numbering, tense, who is addressed), not by its topic; the same form
is the AI's answer when the request asks for that kind of text ("Write a story ...", "Write an e-mail
...", "When was ... invented?"), so each kind names the requests it answers.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_F = re.IGNORECASE | re.MULTILINE


class DocumentKind(NamedTuple):
    name: str
    form: re.Pattern[str]       # the document's form in the text
    needed: int                 # matches of the form that make the kind
    asked_by: re.Pattern[str] | None  # a request that asks for this kind of text (then it is the answer)


_WRITING = r"\b(?:write|draft|compose|create|make up|tell)\b"
_STORY_ASKED = re.compile(rf"{_WRITING}.{{0,40}}(?<!news )\b(?:story|tale|fiction|scene|fable|narrative|chapter|adventure|game|"
                          r"roleplay|role-play|interactive|mystery|thriller|horror|fantasy|romance|fairy tale|novel|plot|prologue|opening|monologue)\b|(?<!news )\b(?:story|tale|fiction)\b", re.IGNORECASE)
# creative writing whose form is neither first person nor an answer's: a script, a poem, a song
_CREATIVE_ASKED = re.compile(rf"{_WRITING}.{{0,60}}\b(?:dialogue|conversation|script|play|sketch|skit|scene|poem|verse|limerick|"
                             r"haiku|sonnet|song|lyrics|rap|rhyme|ode|ballad)s?\b", re.IGNORECASE)
_RELEASE_ASKED = re.compile(r"\b(?:press release|announcement|statement|changelog|release notes|news)\b", re.IGNORECASE)
_HISTORY_ASKED = re.compile(r"\b(?:history|historical|origins?|when (?:was|were|did|is)|who (?:invented|discovered|first)|"
                            r"first (?:used|made|invented)|invented|ancient|century|era|tell me about|what (?:is|are|was|were)\b)",
                            re.IGNORECASE)
_DOCUMENT_ASKED = re.compile(r"\b(?:minutes|agenda|contract|clause|terms|policy|faq|diary|journal|template|licen[cs]e|header|"
                             r"boilerplate|document)\b", re.IGNORECASE)

DOCUMENT_KINDS = [
    # an e-mail thread: a reply or forward marker, a quoted earlier message, or sender and date headers together
    DocumentKind("an e-mail thread between other people", re.compile(
        r"^\s*subject\s*:\s*(?:re|fwd?|fw|aw)\s*:|^\s*-{2,}\s*(?:original|forwarded) message|^\s*on\b.{5,80}\bwrote:\s*$"
        r"|^\s*(?:from|sent|date|cc)\s*:\s*\S+", _F), 2, None),
    # a copied source file: licence, authorship and version lines in its opening comments
    DocumentKind("a copied source file header", re.compile(
        r"^\s*(?:#|//|/?\*+|--)\s*(?:copyright|\(c\)|licen[cs]ed?|author|maintainer|last (?:updated|modified|changed)|"
        r"created(?: on| by)?|todo|version|-\*- coding)\b", _F), 2,
        re.compile(r"\b(?:header|licen[cs]e|copyright|boilerplate)\b", re.IGNORECASE)),
    # a FAQ page or an exam answer key: several question-and-answer pairs written for many readers
    DocumentKind("a FAQ page", re.compile(r"^\s*(?:frequently asked questions|faqs?)\s*$|^\s*Q\s*[:.]\s+\S", _F), 2, _DOCUMENT_ASKED),
    # minutes: who was there, apologies, the next meeting
    DocumentKind("meeting minutes", re.compile(
        r"^\s*(?:minutes of\b|(?:present|attendees|apologies|absent|in attendance|action items?)\s*:)|\bnext meeting\s*:", _F),
        2, _DOCUMENT_ASKED),
    # a contract or terms-and-conditions clause: numbered sections in the third-person "shall"
    DocumentKind("a numbered contract clause", re.compile(
        r"^\s*(?:\d+\.\d+|section \d+|article \d+|clause \d+)\b|\b(?:shall|hereby|hereinafter|the (?:customer|licensee|tenant|"
        r"supplier|party|parties))\b", _F), 3, _DOCUMENT_ASKED),
    # a press release: the embargo line, the end mark, a company announcing and its chief quoted
    DocumentKind("a press release", re.compile(
        r"^\s*for immediate release\b|^\s*#{3}\s*$|\btoday announced\b|\b(?:chief executive|CEO|spokesperson|spokesman|"
        r"spokeswoman|chair(?:man|woman)?)\s+[A-Z]\w+\s+[A-Z]\w+\s+said\b", _F), 2, _RELEASE_ASKED),
    # a changelog: version headings and items that open with a past-tense change verb
    DocumentKind("a changelog", re.compile(
        r"^\s*#*\s*change ?log\b|^\s*#+\s*v?\d+\.\d+(?:\.\d+)?\b|^\s*[-*]\s*(?:fixed|added|updated|dropped|removed|"
        r"improved|deprecated|bumped)\b", _F), 3, _RELEASE_ASKED),
    # an answer key or a filled-in form: numbered items whose answer is a single letter
    DocumentKind("an answer key", re.compile(r"^\s*(?:answer key|answers|mark scheme)\b|^\s*\d+[.)]\s*[A-E]\b(?![\w'])", _F), 3, None),
    # a log: a stack trace, timestamped entries
    DocumentKind("a log or stack trace", re.compile(
        r"^\s*traceback \(most recent call last\)|^\s*file \"[^\"]+\", line \d+|^\s*\w+(?:error|exception)\s*:|"
        r"^\s*at [\w.$]+\([\w.]+:\d+\)|^\s*\[?\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}", _F), 2, None),
    # a schedule or course outline: several lines labelled with a period and its number ("Week 1:")
    DocumentKind("a schedule or course outline", re.compile(
        r"^\s*(?:week|day|month|session|lesson|unit|module|lecture|term|semester)\s+\d+\s*[:.\-\u2013]", _F), 3,
        re.compile(r"\b(?:plan|schedule|itinerary|timetable|syllabus|course|curriculum|routine|programme|program|outline|"
                   r"weeks?|days?|months?|lessons?)\b", re.IGNORECASE)),
    # an advert: hiring, selling, a presenter asking for likes
    DocumentKind("an advert", re.compile(
        r"\bwe'?re hiring\b|\bapply (?:by|now|today|online|before)\b|^\s*salary\s*:|\bfor sale\s*:|\bono\b|\bno time wasters\b|"
        r"\bcollection only\b|\bsmash that like\b|\b(?:like and )?subscribe\b|\bsponsored by\b|\blink in the description\b|"
        r"\bwelcome back to the channel\b|\blimited (?:time )?offer\b", _F), 2,
        re.compile(r"\b(?:advert|advertisement|ad|listing|job (?:post|ad)|video script|intro|promo)\b", re.IGNORECASE)),
    # a dictionary entry: headword with its part of speech, pronunciation, origin, "see also"
    DocumentKind("a dictionary entry", re.compile(
        r"^\s*[\w'-]+ \((?:n|v|adj|adv|vb|noun|verb)\.?\)|/[^/\s]*[\u02c8\u02cc\u0259\u026a\u028a\u00e6\u0252\u028c\u0254\u02d0\u03b8\u00f0\u014b\u0283\u0292][^/\s]*/|\borigin\s*:|\bplural\s*:|\bsee also\s*:", _F), 2,
        re.compile(r"\b(?:mean|meaning|define|definition|word|pronounce|etymology)\b", re.IGNORECASE)),
    # an official report: its title, officers attending, witnesses, a stated time
    DocumentKind("an official report", re.compile(
        r"^\s*(?:incident|accident|police|case|crime|inspection|investigation) report\b|\bofficers (?:attended|arrived|responded)\b|"
        r"\bwitnesses (?:described|said|reported|stated)\b|\bat approximately \d{1,2}[:.]\d{2}\b", _F), 2, _DOCUMENT_ASKED),
    # a document that refers to itself ("Read all of this leaflet", "Keep this manual")
    DocumentKind("a leaflet or manual", re.compile(
        r"\b(?:this|the) (?:leaflet|booklet|manual|brochure|prospectus|warranty|package insert)\b|^\s*package leaflet\b", _F), 2,
        _DOCUMENT_ASKED),
    # a horoscope: a star sign opening, planets moving into signs, lucky numbers
    DocumentKind("a horoscope", re.compile(
        r"^\s*(?:aries|taurus|gemini|cancer|leo|virgo|libra|scorpio|sagittarius|capricorn|aquarius|pisces)\b|"
        r"\blucky (?:number|colou?r|day)\b|\b(?:venus|mars|mercury|jupiter|saturn|the moon) (?:moves|enters|is) (?:into|in)\b", _F), 2,
        re.compile(r"\b(?:horoscope|star sign|zodiac|astrology)\b", re.IGNORECASE)),
    # a bug report: the template's headings
    DocumentKind("a bug report", re.compile(
        r"^\s*(?:\*\*|#+\s*)?(?:describe the bug|steps to reproduce|expected (?:behaviou?r|result)|actual (?:behaviou?r|result)|"
        r"environment|reproduction steps)\b", _F), 2, re.compile(r"\b(?:bug report|issue|ticket)\b", re.IGNORECASE)),
    # a newsletter announcing its contents
    DocumentKind("a newsletter", re.compile(r"^\s*in this (?:issue|edition|week'?s (?:issue|edition))\b", _F), 1,
                 re.compile(r"\bnewsletter\b", re.IGNORECASE)),
    # a credits or copyright block: who wrote or performed it, and the rights
    DocumentKind("a credits or copyright block", re.compile(
        r"\bcopyright\b|\ball rights reserved\b|\breproduced (?:with|by) (?:kind )?permission\b|\b(?:as )?performed by\b|"
        r"\bwritten by [A-Z]", _F), 2, re.compile(r"\b(?:copyright|credits?|licen[cs]e|header)\b", re.IGNORECASE)),
    DocumentKind("a diary entry", re.compile(r"^\s*dear (?:diary|journal)\b", _F), 1, _DOCUMENT_ASKED),
    # second-person fiction: "you" doing scene verbs in the simple present ("You stand ...", "you hear ...")
    DocumentKind("second-person fiction", re.compile(
        r"\byou (?:\w+ly )?(?:wake|stand|sit|lie|feel|hear|see|notice|smell|glance|stare|remember|reali[sz]e|watch|wonder|"
        r"step|walk|enter|reach|shiver|blink|freeze|hesitate|find yourself|open your eyes)s?\b(?! to\b)"
        # or the scene set around "you" ("You are in a dark car park"), as interactive fiction opens
        r"|^\s*you are (?:in|at|inside|standing|sitting|lying|alone)\b", _F), 2, _STORY_ASKED),
    # an encyclopaedia paragraph: dated history in the past tense, where a how-to was asked
    DocumentKind("an encyclopaedia paragraph", re.compile(
        r"\b(?:in|around|by|since|from|until|to) (?:the )?(?:(?:early|late|mid|mid-)\s*)?(?:\d{3,4}s?|\d{1,2}(?:st|nd|rd|th)[- ]century|middle ages)\b"
        r"|\b\d{3,4} ?(?:BC|AD|BCE|CE)\b|\b(?:was|were) (?:first |later |originally |also |widely )?(?:invented|discovered|developed|"
        r"introduced|used|found|built|founded|known|described|named|patented|adopted|banned|outlawed|populari[sz]ed)\b|\bdating (?:to|from|back)\b"
        r"|\boriginated\b", re.IGNORECASE),
        2, _HISTORY_ASKED),
]
# a how-to or a piece of writing was asked: history or fiction do not answer it
HOW_TO_ASKED = re.compile(r"^\s*(?:how (?:do|can|could|would|should|might) (?:I|you|one|we|people|someone)|how to|give me|"
                          r"explain how|tell me how|show me how|walk me through|write|draft|make|create)\b", re.IGNORECASE)
_ANSWER_VOICE = re.compile(r"\b(?:I|I'm|I'll|I'd|me|my)\b|\byou(?:'ll| can| could| should| need| must| will| may| might)\b")


def unasked_document(text: str, query: str | None) -> str | None:
    """The kind of document the text is when the request did not ask for that kind (None otherwise)."""
    for kind in DOCUMENT_KINDS:
        if len(kind.form.findall(text)) < kind.needed:
            continue
        if query and kind.asked_by is not None and kind.asked_by.search(query):
            continue
        if kind.name == "an encyclopaedia paragraph" and (not query or not HOW_TO_ASKED.search(query) or _ANSWER_VOICE.search(text)):
            continue  # history is an answer unless a how-to was asked and nobody speaks to the asker
        return kind.name
    return None


def story_asked(query: str | None) -> bool:
    """The request asks for fiction, so narration is the answer rather than a broken frame."""
    return bool(query and _STORY_ASKED.search(query))


def creative_asked(query: str | None) -> bool:
    """The request asks for a script, a poem or a song: speaker lines or verse are the answer."""
    return bool(query and (_CREATIVE_ASKED.search(query) or _STORY_ASKED.search(query)))

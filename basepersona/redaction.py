"""Keep API keys out of messages, logs and records.

A key a backend reads from the environment is registered here; every message built from a server's
reply, and the command line stored in a manifest, passes through ``redact``. Option values that
look like keys are refused outright (``-o api_key_env=sk-...`` would otherwise be stored twice).
"""

from __future__ import annotations

import re
import shlex
from typing import Iterable

REDACTED = "<redacted>"  # not [redacted]: rich would take that for markup and print nothing
_registered: set[str] = set()

# well-known key shapes: OpenAI/Anthropic (sk-), Hugging Face (hf_), GitHub, Google, AWS, Slack, JWTs
_KEY_SHAPES = re.compile(
    r"(?:sk-[A-Za-z0-9_\-]{12,}|hf_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|AIza[A-Za-z0-9_\-]{20,}|AKIA[A-Z0-9]{16}|xox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,})")
_BEARER = re.compile(r"(?i)\b(bearer|api[_-]?key)(\s*[:=]\s*|\s+)[A-Za-z0-9._~+/\-]{8,}=*")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/@\s]+@")  # http://user:password@host


def register_secret(value: str | None) -> None:
    """Remember a secret so that ``redact`` removes it wherever it turns up (e.g. echoed by a server)."""
    if value and len(value) >= 6:
        _registered.add(value)


def looks_like_key(value: str) -> bool:
    """A known key shape, or a long random-looking token (mixed letters and digits, many distinct
    characters) that is not an environment-variable name written in capitals."""
    if _KEY_SHAPES.search(value) or value in _registered:
        return True
    token = value.strip()
    if len(token) < 24 or not re.fullmatch(r"[A-Za-z0-9_\-.+/=]+", token) or "://" in token:
        return False
    if re.fullmatch(r"[A-Z0-9_]+", token) or "/" in token.strip("/"):
        return False  # an env var name, or a path / hub id
    digits, letters = sum(c.isdigit() for c in token), sum(c.isalpha() for c in token)
    return digits >= 4 and letters >= 8 and len(set(token)) >= 14


def is_env_name(value: str) -> bool:
    return bool(_ENV_NAME.match(value))


def redact(text: str) -> str:
    """``text`` with registered secrets, key-shaped tokens, bearer values and passwords in URLs replaced."""
    for secret in sorted(_registered, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _KEY_SHAPES.sub(REDACTED, text)
    text = _URL_USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
    return _BEARER.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)


def recorded_command(argv: Iterable[str]) -> str:
    """The command line as stored in a manifest: ``basepersona ARGS`` with secrets redacted."""
    parts = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if looks_like_key(arg) or (sep and looks_like_key(value)):
            arg = f"{key}={REDACTED}" if sep and not looks_like_key(key) else REDACTED
        parts.append(shlex.quote(redact(arg)))
    return "basepersona " + " ".join(parts)

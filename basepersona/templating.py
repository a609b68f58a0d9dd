"""Sandboxed Jinja templates for frames and scenarios: data files, never code.

Templates run in Jinja's immutable sandbox with undefined variables as errors, so a frame can
format text but cannot call into Python, read files or mutate the values it is given.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from .errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_ENV = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
    trim_blocks=False,
)


def load_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML data file; a syntax error becomes a UserError naming file and line."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: TOML syntax error: {exc}; fix the file") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def _field_line(path: Path | None, field: str) -> int:
    """Line in ``path`` where ``field = ...`` starts, so template line numbers map to file lines."""
    if path is None or not path.exists():
        return 0
    pattern = re.compile(rf"^\s*{re.escape(field)}\s*=\s*(\"\"\"|''')?\s*$|^\s*{re.escape(field)}\s*=")
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if pattern.match(line):
            # a multi-line string opened on this line starts its first template line on the next one
            return number if line.rstrip().endswith(('"""', "'''")) else number - 1
    return 0


class Template:
    """A compiled sandboxed template that knows where it came from (for error messages)."""

    def __init__(self, source: str, *, origin: Path | None, field: str):
        self.source = source
        self.origin = origin
        self.field = field
        try:
            self._template = _ENV.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise UserError(f"{self._where(exc.lineno)}: template syntax error: {exc.message}") from None

    def _where(self, template_line: int | None) -> str:
        name = str(self.origin) if self.origin else "<template>"
        if template_line is None:
            return f"{name} field {self.field!r}"
        return f"{name}:{_field_line(self.origin, self.field) + template_line} (field {self.field!r})"

    def render(self, **context: Any) -> str:
        try:
            return self._template.render(**context)
        except jinja2.UndefinedError as exc:
            raise UserError(f"{self._where(None)}: unknown template variable: {exc.message}") from None
        except SecurityError as exc:
            raise UserError(f"{self._where(None)}: template tried an unsafe operation ({exc}); templates may only format text") from None
        except jinja2.TemplateError as exc:
            raise UserError(f"{self._where(getattr(exc, 'lineno', None))}: template error: {exc}") from None

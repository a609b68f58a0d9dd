"""Sandboxed Jinja templates for frames and scenarios: data files, never code.

Templates run in Jinja's immutable sandbox with undefined variables as errors, so a frame can
format text but cannot call into Python, read files or mutate the values it is given. The sandbox
also bounds what one render may cost: operators and calls may not build huge strings, lists or
integers (``'a' * 10**10``, ``9 ** 99999``, ``'x'.ljust(10**10)``), the output is capped, and a
render on the main thread stops after ``RENDER_SECONDS`` (deep or exponential recursion, nested
loops). Any failure inside a template is the template's, so it becomes one UserError line.
"""

from __future__ import annotations

import functools
import re
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from .errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_SEQUENCE = 1_000_000  # longest string or list one operator or call may build
MAX_INT_BITS = 4096  # largest integer an operator may build (9 ** 99999 has 317,000 bits)
MAX_OUTPUT = 4_000_000  # characters one render may produce
RENDER_SECONDS = 5.0


def _too_big(value: Any) -> bool:
    if isinstance(value, (str, bytes, list, tuple)):
        return len(value) > MAX_SEQUENCE
    return isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS


def _check_arguments(args: tuple, kwargs: dict) -> None:
    """Calls such as ljust, center, indent, wordwrap or truncate allocate their int arguments' worth."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SEQUENCE:
            raise SecurityError(f"a number argument of {value.bit_length()} bits is too large for a template")


def _check_result(value: Any) -> Any:
    if _too_big(value):
        raise SecurityError("the result is too large for a template")
    return value


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        numbers = all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right))
        if operator == "**" and numbers and right > 0 and max(abs(left), 2).bit_length() * right > MAX_INT_BITS:
            raise SecurityError("the power is too large for a template")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, (str, list, tuple)) and isinstance(count, int) and len(sequence) * count > MAX_SEQUENCE:
                    raise SecurityError("the repeated text is too long for a template")
        if operator == "%" and isinstance(left, str) and any(int(w) > MAX_SEQUENCE for w in re.findall(r"%[-#0 +]*(\d+)", left)):
            raise SecurityError("the format width is too large for a template")
        return _check_result(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's signature)
        _check_arguments(args, kwargs)
        return _check_result(super().call(__context, __obj, *args, **kwargs))


def _bounded_filter(function: Any) -> Any:
    @functools.wraps(function)  # keeps Jinja's pass_context/pass_environment marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_arguments(args[1:], kwargs)
        return _check_result(function(*args, **kwargs))
    return bounded


_ENV = _BoundedSandbox(
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
    trim_blocks=False,
)
_ENV.filters = {name: _bounded_filter(function) for name, function in _ENV.filters.items()}
del _ENV.globals["namespace"]  # a mutable accumulator: with loops it could double a string 100,000 times
del _ENV.globals["lipsum"]  # lipsum(10**6) builds half a gigabyte of filler text


class _RenderTimeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (main thread only, where Python delivers signals, and only
    when no other interval timer is running)."""
    usable = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
              and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    if not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _RenderTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def load_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML data file; a syntax error becomes a UserError naming file and line."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: TOML syntax error: {exc}; fix the file") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None


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
        if not isinstance(source, str):
            raise UserError(f"{self._where(None)} must be text (a TOML string), not {type(source).__name__} {source!r}"[:300])
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
            with _time_limit(RENDER_SECONDS):
                return self._bounded_render(context)
        except _RenderTimeout:
            raise UserError(f"{self._where(None)}: rendering took over {RENDER_SECONDS:g} s (endless recursion or "
                            "loops?); templates should only format text") from None
        except RecursionError:
            raise UserError(f"{self._where(None)}: template recursion too deep (a macro calling itself?)") from None
        except MemoryError:
            raise UserError(f"{self._where(None)}: rendering ran out of memory; templates should only format text") from None
        except jinja2.UndefinedError as exc:
            raise UserError(f"{self._where(None)}: unknown template variable: {exc.message}") from None
        except SecurityError as exc:
            raise UserError(f"{self._where(None)}: template tried an unsafe operation ({exc}); templates may only format text") from None
        except jinja2.TemplateError as exc:
            raise UserError(f"{self._where(getattr(exc, 'lineno', None))}: template error: {exc}") from None
        except Exception as exc:  # 1/0, query + 1, range(10**9): the template's error, not the program's
            raise UserError(f"{self._where(None)}: template error: {type(exc).__name__}: {str(exc)[:200]}") from None

    def _bounded_render(self, context: dict[str, Any]) -> str:
        pieces, size = [], 0
        for piece in self._template.generate(**context):
            size += len(piece)
            if size > MAX_OUTPUT:
                raise SecurityError(f"the rendered text passed {MAX_OUTPUT:,} characters")
            pieces.append(piece)
        return "".join(pieces)


# Tags that would reach other files; the environment has no loader, and we refuse them up front so the
# error names the file and field instead of surfacing at render time.
_LOADING_TAGS = (jinja2.nodes.Include, jinja2.nodes.Import, jinja2.nodes.FromImport, jinja2.nodes.Extends)


def checked_template(source: object, path: Path, field_name: str) -> Template:
    """A sandboxed template that may not include, import or extend other templates."""
    if not isinstance(source, str):
        raise UserError(f"{path}: field {field_name!r} must be text (a quoted string), not {source!r}")
    template = Template(source, origin=path, field=field_name)
    for node in _ENV.parse(source).find_all(_LOADING_TAGS):
        tag = type(node).__name__.lower().replace("fromimport", "from ... import")
        raise UserError(f"{path}:{node.lineno} (field {field_name!r}): '{{% {tag} %}}' is not allowed; "
                        "a template may not load other files")
    return template

"""Backend options: parse ``KEY=VALUE`` pairs from the command line and check them per backend."""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from ..errors import UserError
from ..redaction import is_env_name, looks_like_key

# What `basepersona sample` passes to every backend; backends that have no use for them ignore
# them while they hold these defaults, and refuse them otherwise.
GENERIC_DEFAULTS = {"device": "auto", "dtype": "auto", "trust_remote_code": False, "max_batch": 32}
# keyword arguments the program itself passes to backends, never options a user sets
_INTERNAL = ("announce",)


def option_number(name: str, value: Any, kind: type = int, minimum: float | None = None) -> Any:
    """``value`` as an int or float (``-o max_batch=abc`` is an error, not a crash later)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UserError(f"option {name} takes a number, not {value!r}")
    try:
        number = kind(value)
    except ValueError:
        raise UserError(f"option {name} takes {'a whole' if kind is int else 'a'} number, not {value!r}") from None
    if kind is int and isinstance(value, float) and value != number:
        raise UserError(f"option {name} takes a whole number, not {value!r}")
    if number != number or number in (float("inf"), float("-inf")):
        raise UserError(f"option {name} takes a finite number, not {value!r}")
    if minimum is not None and number < minimum:
        raise UserError(f"option {name} must be at least {minimum:g}, not {value!r}")
    return number


def option_flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise UserError(f"option {name} takes true or false, not {value!r}")


def _checked_generic(key: str, value: Any) -> Any:
    if key == "max_batch":
        return option_number(key, value, int, 1)
    if key == "trust_remote_code":
        return option_flag(key, value)
    if key in ("device", "dtype") and not isinstance(value, str):
        raise UserError(f"option {key} takes a name such as {GENERIC_DEFAULTS[key]!r}, not {value!r}")
    return value


def parse_option_pairs(pairs: Iterable[str]) -> dict[str, Any]:
    """``["concurrency=8", "base_url=http://h:8000/v1"]`` -> typed dict (JSON values where they parse)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"a backend option takes KEY=VALUE (e.g. concurrency=8), not {pair!r}")
        key, raw = (part.strip() for part in pair.split("=", 1))
        _refuse_secret(key, raw)
        key = key.replace("-", "_")
        if key in _INTERNAL:
            raise UserError(f"{key!r} is not a backend option (the program sets it); see docs/BACKENDS.md")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # a bare string such as a URL
        options[key] = _checked_generic(key, value) if key in GENERIC_DEFAULTS else value
    return options


def _refuse_secret(key: str, value: str) -> None:
    """Options end up in the manifest, so a key given as a value would be stored in the open; the
    message never repeats the value."""
    if key.replace("-", "_") == "api_key_env" and not is_env_name(value):
        raise UserError("-o api_key_env takes the NAME of an environment variable that holds the key "
                        "(e.g. -o api_key_env=MY_API_KEY), not the key itself; the value given was not stored")
    if looks_like_key(value):
        raise UserError(f"-o {key}=... looks like a secret key; options are recorded in the run's manifest, so put "
                        "the key in an environment variable and pass its name (-o api_key_env=VAR); "
                        "the value given was not stored")


def with_option_pairs(flags: Mapping[str, Any], pairs: Iterable[str]) -> dict[str, Any]:
    """A command's generic flags (--device, --dtype, ...) plus its ``-o KEY=VALUE`` pairs.

    A pair may set a generic key the user left at its default (``-o dtype=bfloat16`` for vLLM), but
    contradicting a flag the user did set is refused: silently picking one would be a guess.
    """
    options = dict(flags)
    for key, value in parse_option_pairs(pairs).items():
        flag_value = options.get(key, GENERIC_DEFAULTS.get(key))
        if key in flags and flag_value != GENERIC_DEFAULTS.get(key) and flag_value != value:
            raise UserError(f"-o {key}={value!r} contradicts --{key.replace('_', '-')} {flag_value!r}; give it once")
        options[key] = value
    return options


def check_options(backend: str, options: Mapping[str, Any], accepted: Iterable[str]) -> dict[str, Any]:
    """The options this backend takes; unknown ones (or generic ones it cannot honour) are errors."""
    accepted = set(accepted)
    kept = {}
    for key, value in options.items():
        if key in accepted:
            kept[key] = value
        elif key in GENERIC_DEFAULTS and value == GENERIC_DEFAULTS[key]:
            continue
        else:
            raise UserError(f"the {backend} backend has no option {key!r}"
                            f"{' (or cannot use its value ' + repr(value) + ')' if key in GENERIC_DEFAULTS else ''}; "
                            f"its options: {', '.join(sorted(accepted - set(_INTERNAL)))}")
    return kept


def require_extra(module: str, extra: str, backend: str) -> Any:
    """Import an optional engine, or tell the user which pip extra brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UserError(f"the {backend} backend needs {module} ({exc.msg}); "
                        f'install it with: pip install "basepersona[{extra}]"') from None

"""Backend options: parse ``KEY=VALUE`` pairs from the command line and check them per backend."""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from ..errors import UserError

# What `basepersona sample` passes to every backend; backends that have no use for them ignore
# them while they hold these defaults, and refuse them otherwise.
GENERIC_DEFAULTS = {"device": "auto", "dtype": "auto", "trust_remote_code": False, "max_batch": 32}


def parse_option_pairs(pairs: Iterable[str]) -> dict[str, Any]:
    """``["concurrency=8", "base_url=http://h:8000/v1"]`` -> typed dict (JSON values where they parse)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"a backend option takes KEY=VALUE (e.g. concurrency=8), not {pair!r}")
        key, raw = (part.strip() for part in pair.split("=", 1))
        try:
            options[key.replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            options[key.replace("-", "_")] = raw  # a bare string such as a URL
    return options


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
                            f"its options: {', '.join(sorted(accepted))}")
    return kept


def require_extra(module: str, extra: str, backend: str) -> Any:
    """Import an optional engine, or tell the user which pip extra brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UserError(f"the {backend} backend needs {module} ({exc.msg}); "
                        f'install it with: pip install "basepersona[{extra}]"') from None

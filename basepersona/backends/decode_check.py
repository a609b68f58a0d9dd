"""Choose the transformers decode path that works with the installed transformers, before sampling.

The fast path (shared_prefix.py, decode_linear.py) depends on transformers internals, so its
versions are bounded in pyproject.toml. Installs can still end up outside the bounds (``--no-deps``,
a canary run, a pinned cluster image); then a self-check at load decides: fast path if it matches
plain decoding, else the plain path with a one-line warning, else a one-line error. Never a crash
in the middle of a run.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Callable

from ..errors import UserError


def tested_range(package: str) -> str:
    """The version range basepersona declares for ``package`` (e.g. ``>=5.19,<5.25``), or '' if none."""
    from packaging.requirements import Requirement

    try:
        declared = metadata.requires("basepersona") or []
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return ""
    for line in declared:
        requirement = Requirement(line)
        if requirement.name == package and not requirement.marker:
            # floor first, as people write ranges (packaging sorts them alphabetically)
            return ",".join(sorted(map(str, requirement.specifier), key=lambda spec: not spec.startswith(">")))
    return ""


def inside_tested_range(package: str, version: str) -> bool:
    from packaging.specifiers import SpecifierSet

    declared = tested_range(package)
    return not declared or SpecifierSet(declared).contains(version, prereleases=True)


VERIFY_MODES = ("auto", "always", "never")


def ensure_decode_path(backend: Any, announce: Callable[[str], None] = print, verify: str = "auto") -> None:
    """Switch ``backend`` (a TransformersBackend) to a decode path that works, or raise UserError.

    ``verify``: "auto" probes only when transformers is outside the tested range (inside it, CI has
    run the fast path against plain decoding; the probe costs a few seconds of a warm load),
    "always" probes on every load, "never" trusts the installation."""
    import transformers

    if verify not in VERIFY_MODES:
        raise UserError(f"verify_decode={verify!r} is not a mode; use one of: {', '.join(VERIFY_MODES)}")
    version, tested = transformers.__version__, tested_range("transformers") or "unknown"
    inside = inside_tested_range("transformers", version)
    if verify == "never" or (verify == "auto" and inside):
        return
    fast_problem, plain_problem = backend.decode_path_problems()
    if plain_problem is not None:
        raise UserError(f"transformers {version} cannot decode with basepersona ({plain_problem}); "
                        f"install a tested version: pip install 'transformers{tested}'")
    if fast_problem is None:
        if not inside:
            announce(f"note: transformers {version} is outside basepersona's tested range ({tested}); "
                     "the fast sampler's self-check passed")
        return
    backend.shared_prefix_attention = backend.transposed_linears = False
    announce(f"warning: the fast sampler does not work with transformers {version} (tested {tested}): "
             f"{fast_problem}; sampling with plain decoding instead (slower, same samples)")

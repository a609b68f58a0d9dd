"""Locate the data folders (frames/, corpora/) in a checkout or inside an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the folder ``name`` ("frames" or "corpora").

    A wheel carries them as ``basepersona/_data/<name>``; a checkout or editable install keeps them
    at the repository root, one level above the package.
    """
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"basepersona data folder {name!r} is missing from this installation")

"""The package version (pyproject.toml has the same; tests/test_packaging.py keeps them equal)."""

__version__ = "0.1.0"

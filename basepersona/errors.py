"""Errors that reach the user as one clear line instead of a traceback."""


class UserError(Exception):
    """Bad input or a setting the user can fix; the CLI prints the message and exits with status 2."""

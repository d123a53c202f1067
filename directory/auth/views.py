"""Views of the auth blueprint."""

from directory.auth import bp  # noqa: F401

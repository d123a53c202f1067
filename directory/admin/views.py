"""Views of the admin blueprint."""

from directory.admin import bp  # noqa: F401

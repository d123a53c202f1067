"""Views of the portal blueprint."""

from directory.portal import bp  # noqa: F401

"""Keeping listings true: problem reports, confirmation requests to centers, and stale listings by exposure."""

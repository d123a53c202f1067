"""Celery tasks, and the worker's entry point: `celery -A tasks worker` / `celery -A tasks beat`.

Importing this package builds no app; the Celery app is made (by `create_app`) only when a
worker or beat asks this package for it.
"""

from __future__ import annotations

from typing import Any

# Imported here, not inside __getattr__: Celery puts the project folder on the import path only
# while it loads `tasks`, so `directory` must be imported by then.
from directory import create_app


def __getattr__(name: str) -> Any:
    if name in ("app", "celery", "celery_app"):
        return create_app().extensions["celery"]
    raise AttributeError(name)

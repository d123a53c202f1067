"""Celery tasks, and the worker's entry point: `celery -A tasks worker` / `celery -A tasks beat`.

The task modules import nothing that builds an app; the Celery app is made (by `create_app`)
only when a worker or beat asks this package for it.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("app", "celery", "celery_app"):
        from directory import create_app

        return create_app().extensions["celery"]
    raise AttributeError(name)

"""The Celery app. Routing tasks arrive with the referral service.

Embedded mode (no REDIS_URL): tasks run eagerly, in the calling process.
Real mode: `celery -A tasks worker` and `celery -A tasks beat` against REDIS_URL.
"""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask


def celery_init_app(app: Flask) -> Celery:
    """Bind a Celery app to the Flask app so each task runs inside the app context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    redis_url = app.config.get("REDIS_URL")
    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=redis_url or "memory://",
        task_always_eager=redis_url is None,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def _create_celery() -> Celery:
    from directory import create_app

    return celery_init_app(create_app())


celery_app = _create_celery()

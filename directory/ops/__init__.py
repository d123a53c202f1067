"""Operations: health and readiness probes, Prometheus metrics, structured logs with request ids."""

from flask import Blueprint, Flask

bp = Blueprint("ops", __name__)


def init_ops(app: Flask) -> None:
    """Set up logging and metrics first, so every later step and every request is covered."""
    from directory.ops.logging import init_logging
    from directory.ops.metrics import init_metrics

    init_logging(app)
    init_metrics(app)

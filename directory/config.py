"""Configuration defaults, overridden from the environment (every variable is in the README)."""

from __future__ import annotations

import os
from typing import Any


def from_environment(instance_path: str) -> dict[str, Any]:
    """The app's settings: defaults for the embedded mode, overridden by environment variables."""
    env = os.environ
    database_url = env.get("DATABASE_URL") or f"sqlite:///{os.path.join(instance_path, 'directory.sqlite3')}"
    return {
        "SECRET_KEY": env.get("SECRET_KEY", "dev-only-not-secret-set-SECRET_KEY-in-production"),
        "DATABASE_URL": database_url,
        "REDIS_URL": env.get("REDIS_URL") or None,
        "GEOCODER": env.get("GEOCODER", "offline"),
        "NOMINATIM_USER_AGENT": env.get("NOMINATIM_USER_AGENT", "treatment-directory"),
        "NOMINATIM_DOMAIN": env.get("NOMINATIM_DOMAIN", "nominatim.openstreetmap.org"),
        "SEED_FILE": env.get(
            "SEED_FILE", os.path.join(os.path.dirname(os.path.dirname(__file__)), "seeds", "centers.csv")
        ),
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", 1024 * 1024)),
        "WTF_CSRF_ENABLED": True,
    }

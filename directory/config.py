"""Configuration defaults, overridden from the environment (every variable is in the README)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

#: Seconds to wait on the rate limits' storage (Redis) before counting in the process's memory.
RATE_LIMIT_STORAGE_TIMEOUT_SECONDS = 0.5
#: The import format of SAMHSA's current national file, which DIRECTORY_SYNC_URL usually points at.
DIRECTORY_SYNC_FORMAT = "findtreatment-export"
#: The largest file a sync downloads, in bytes.
DIRECTORY_SYNC_MAX_BYTES = 200 * 1024 * 1024


def from_environment(instance_path: str) -> dict[str, Any]:
    """The app's settings: defaults for the embedded mode, overridden by environment variables."""
    env = os.environ
    database_url = env.get("DATABASE_URL") or f"sqlite:///{os.path.join(instance_path, 'directory.sqlite3')}"
    return {
        # Unset: a random key kept in the instance folder (directory/instance.py), unless
        # REQUIRE_SECRET_KEY (the production image) makes the app refuse to start without one.
        "SECRET_KEY": env.get("SECRET_KEY") or None,
        "REQUIRE_SECRET_KEY": _flag(env.get("REQUIRE_SECRET_KEY", "false")),
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
        "BASE_URL": (env.get("BASE_URL") or _served_at(env.get("HOST"), env.get("PORT"))).rstrip("/"),
        # Sessions: signed cookies that carry the user's session version (see directory/security.py).
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag(env.get("SESSION_COOKIE_SECURE", "false")),
        "IDLE_TIMEOUT_MINUTES": int(env.get("IDLE_TIMEOUT_MINUTES", 30)),
        "SESSION_MAX_HOURS": int(env.get("SESSION_MAX_HOURS", 12)),
        # Argon2id's cost for new passwords (directory/accounts/passwords.py). Not read from the
        # environment: the one other profile, "cheapest-for-tests", is for test suites only.
        "PASSWORD_HASH_PROFILE": "rfc-9106-low-memory",
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI") or env.get("REDIS_URL") or "memory://",
        # "100 failures an hour" means in any hour, not per window that starts at the first one.
        "RATELIMIT_STRATEGY": "moving-window",
        # While that storage (Redis) is down or hangs, each process counts in its own memory instead
        # of answering 500 (a sign-in must not depend on Redis), and goes back to it once it
        # answers again; a request waits at most about a second on an unanswering Redis.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_STORAGE_OPTIONS": {
            "wrap_exceptions": True,  # the storage's errors as limits.errors.StorageError
            "socket_connect_timeout": RATE_LIMIT_STORAGE_TIMEOUT_SECONDS,
            "socket_timeout": RATE_LIMIT_STORAGE_TIMEOUT_SECONDS,
        },
        "RATELIMIT_HEADERS_ENABLED": True,
        "MAIL_FROM": env.get("MAIL_FROM", "Treatment directory <no-reply@localhost>"),
        "MAIL_OUTBOX": env.get("MAIL_OUTBOX", os.path.join(instance_path, "outbox")),
        "MAIL_SMTP_HOST": env.get("MAIL_SMTP_HOST", ""),
        "MAIL_SMTP_PORT": int(env.get("MAIL_SMTP_PORT", 587)),
        "MAIL_SMTP_USERNAME": env.get("MAIL_SMTP_USERNAME", ""),
        "MAIL_SMTP_PASSWORD": env.get("MAIL_SMTP_PASSWORD", ""),
        "MAIL_SMTP_TLS": _flag(env.get("MAIL_SMTP_TLS", "true")),
        # Behind a reverse proxy (nginx, a load balancer): how many proxies set X-Forwarded-*.
        "TRUST_PROXY_HOPS": int(env.get("TRUST_PROXY_HOPS", 0)),
        "OFFER_TTL_MINUTES": int(env.get("OFFER_TTL_MINUTES", 240)),
        # Each step of a referral is offered to this many centers at once; the first to accept wins.
        "OFFERS_AT_ONCE": int(env.get("OFFERS_AT_ONCE", 3)),
        "OFFER_REMINDER_MINUTES": int(env.get("OFFER_REMINDER_MINUTES", 30)),
        "ESCALATE_AFTER_MINUTES": int(env.get("ESCALATE_AFTER_MINUTES", 120)),
        "EMBEDDED_SWEEP_SECONDS": int(env.get("EMBEDDED_SWEEP_SECONDS", 60)),
        "ROUTING_REDISPATCH_SECONDS": int(env.get("ROUTING_REDISPATCH_SECONDS", 120)),
        # Mail center staff, daily, to confirm listings not confirmed for 90 days (directory/upkeep/).
        "CONFIRMATION_REQUESTS": _flag(env.get("CONFIRMATION_REQUESTS", "true")),
        # /metrics answers a request with `Authorization: Bearer <METRICS_TOKEN>`; unset: admins only.
        "METRICS_TOKEN": env.get("METRICS_TOKEN") or None,
        # Set: beat downloads and imports this file weekly (tasks/directory.py).
        "DIRECTORY_SYNC_URL": env.get("DIRECTORY_SYNC_URL") or None,
        "DIRECTORY_SYNC_FORMAT": env.get("DIRECTORY_SYNC_FORMAT") or DIRECTORY_SYNC_FORMAT,
        "DIRECTORY_SYNC_COVERS": env.get("DIRECTORY_SYNC_COVERS", ""),
        "DIRECTORY_SYNC_MAX_BYTES": int(env.get("DIRECTORY_SYNC_MAX_BYTES", DIRECTORY_SYNC_MAX_BYTES)),
        # The maps' background: a tile server (e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png, with
        # its attribution as plain text); unset: US state outlines served by the app (no network).
        "MAP_TILE_URL": env.get("MAP_TILE_URL", "").strip() or None,
        "MAP_ATTRIBUTION": env.get("MAP_ATTRIBUTION", "").strip(),
        # "text" for the embedded run command; "json" (one object per line) in production.
        "LOG_FORMAT": env.get("LOG_FORMAT", "text").strip().lower(),
    }


def _served_at(host: str | None, port: str | None) -> str:
    """The address `scripts/run.sh` serves at (HOST and PORT), for links when BASE_URL is unset; a
    wildcard host (all interfaces) is reached at 127.0.0.1 from this machine."""
    host = (host or "").strip()
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{(port or '').strip() or 5000}"


def tile_image_source(tile_url: str, attribution: str) -> str:
    """The Content-Security-Policy source allowing MAP_TILE_URL's images (its scheme and host); a
    ValueError saying what is accepted if the URL is not a tile server's, or has no attribution."""
    example = "e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png or https://{s}.tile.example.org/{z}/{x}/{y}.png"
    parts = urlsplit(tile_url)
    host = parts.netloc.removeprefix("{s}.")
    if (
        parts.scheme not in ("http", "https")
        or not host
        or any(ch in host for ch in "{}@ ")
        or not all(f"{{{name}}}" in tile_url for name in "zxy")
    ):
        raise ValueError(
            f"MAP_TILE_URL={tile_url!r} is not a tile server's address: use an http or https URL with "
            f"{{z}}, {{x}} and {{y}} in it, and {{s}} at most as the first part of the host ({example})."
        )
    if not attribution:
        raise ValueError(
            "MAP_TILE_URL is set but MAP_ATTRIBUTION is empty: set it to the credit the tile server's terms ask "
            'for, as plain text (e.g. "© OpenStreetMap contributors").'
        )
    wildcard = "*." if parts.netloc.startswith("{s}.") else ""
    return f"{parts.scheme}://{wildcard}{host}"


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")

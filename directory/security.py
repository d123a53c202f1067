"""Sign-in sessions, API bearer tokens, access checks and security headers for the whole app.

Sessions are signed cookies whose user id carries the user's session version
("42:7"): signing out bumps the version, so every copy of the cookie stops working.
Sessions also end after IDLE_TIMEOUT_MINUTES without a request, and SESSION_MAX_HOURS after
signing in however active they were (a stolen cookie stops working by then too); both times are
kept in the signed session and checked here, on the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, logout_user, user_logged_in
from limits import parse
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from directory.accounts import audit
from directory.accounts.service import user_for_api_token
from directory.config import tile_image_source
from directory.errors import fhir_error, wants_json
from directory.extensions import db, limiter, login_manager
from directory.models import Center, User

F = TypeVar("F", bound=Callable[..., Any])

#: Where requests sign in with `Authorization: Bearer <token>` only: the JSON API and the FHIR views.
TOKEN_PATHS = ("/api/", "/fhir/")

#: Unknown or revoked bearer tokens tolerated per client address before answering 429.
BAD_TOKEN_LIMIT = parse("20/minute")
#: Where this process counts bad tokens while the limiter's storage (Redis) does not answer.
_bad_tokens_here = FixedWindowRateLimiter(MemoryStorage())
#: Once the storage failed to count a bad token, this process counts them in its own memory for
#: this long before it tries the storage again: a hung Redis makes each try wait for its timeout,
#: which a stream of bad tokens would otherwise pay on every request.
BAD_TOKEN_STORAGE_RETRY_SECONDS = 5.0
_bad_token_storage = {"failed_until": 0.0}  # time.monotonic() until which the storage is not tried


def content_security_policy(tile_url: str | None, attribution: str = "") -> str:
    """The pages' Content-Security-Policy: everything from the site itself, and the map tile
    server's images where MAP_TILE_URL sets one (a ValueError if it is not a tile server's)."""
    images = ["'self'", "data:"]
    if tile_url:
        images.append(tile_image_source(tile_url, attribution))
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {' '.join(images)}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def init_security(app: Flask) -> None:
    app.extensions["content_security_policy"] = content_security_policy(
        app.config["MAP_TILE_URL"], app.config["MAP_ATTRIBUTION"]
    )
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.session_protection = None  # the session version does this job, across devices too
    login_manager.user_loader(_load_user)
    login_manager.request_loader(_load_user_from_bearer_token)
    login_manager.unauthorized_handler(_unauthorized)
    app.before_request(_refuse_oversized_body)
    app.before_request(_refuse_nul_characters)
    app.before_request(_end_expired_session)
    user_logged_in.connect(_start_session_clock, app)
    app.after_request(_security_headers)


def _load_user(user_id: str) -> User | None:
    """The user of a session cookie, if the cookie's session version is still current.

    The API (exempt from CSRF tokens) accepts bearer tokens only, never the cookie.
    """
    if is_api_request():
        return None
    raw_id, _, version = user_id.partition(":")
    if not raw_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(raw_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def _load_user_from_bearer_token(req: Any) -> User | None:
    """`Authorization: Bearer <token>` on API and FHIR requests."""
    if not req.path.startswith(TOKEN_PATHS):
        return None
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    user = user_for_api_token(db.session, token.strip())
    if user is not None:
        db.session.commit()  # last_used_at
    elif limiter.enabled and not _bad_token_allowed(get_remote_address()):
        abort(429)  # someone is guessing tokens
    return user


def _bad_token_allowed(address: str) -> bool:
    """Count one bad token from `address`: False once there were too many. Counted where the
    rate limits are (Redis), or in this process while that does not answer (tried again every
    BAD_TOKEN_STORAGE_RETRY_SECONDS)."""
    if time.monotonic() >= _bad_token_storage["failed_until"]:
        try:
            return limiter.limiter.hit(BAD_TOKEN_LIMIT, "bad-bearer-token", address)
        except StorageError:
            _bad_token_storage["failed_until"] = time.monotonic() + BAD_TOKEN_STORAGE_RETRY_SECONDS
    return _bad_tokens_here.hit(BAD_TOKEN_LIMIT, "bad-bearer-token", address)


def is_api_request() -> bool:
    """Whether the request is to the JSON API or the FHIR views (bearer tokens, never the cookie)."""
    return request.path.startswith(TOKEN_PATHS)


def _unauthorized() -> Any:
    if is_api_request():
        message = "Sign in first: send an API token as 'Authorization: Bearer <token>'."
        if request.path.startswith("/fhir/"):
            response = fhir_error(401, message)
        else:
            response = jsonify({"error": message, "fields": {}})
            response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _refuse_oversized_body() -> None:
    """Refuse a body over MAX_CONTENT_LENGTH, and any file upload (none is planned), before routing."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and request.content_length and request.content_length > limit:
        abort(413)
    if request.mimetype == "multipart/form-data":
        abort(415)
    chunked = request.content_length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    # No length given: read the body now, up to the limit, even where a view ignores it; 413 past it.
    if limit and chunked and len(request.get_data(cache=True)) >= limit and request.environ["wsgi.input"].read(1):
        abort(413)


def _refuse_nul_characters() -> Any:
    """400 for a NUL character anywhere in the path, query, form or JSON, naming where: no field
    needs one, and PostgreSQL can neither store nor compare text holding one."""
    where = _holding_nul()
    if where is None:
        return None
    message = f"{where} must not contain a NUL character."
    if request.path.startswith("/fhir/"):
        return fhir_error(400, message)
    if wants_json():
        return jsonify({"error": message, "fields": {where: [message]}}), 400
    return render_template("error.html", status=400, message=message), 400


def _holding_nul() -> str | None:
    """The name of a request value with a NUL character in it, if any."""
    values: list[tuple[str, Any]] = [("(path)", request.path)]
    values += [(name, text) for name, value in request.args.items(multi=True) for text in (name, value)]
    if request.mimetype == "application/x-www-form-urlencoded":
        values += [(name, text) for name, value in request.form.items(multi=True) for text in (name, value)]
    elif request.is_json:
        body = request.get_json(silent=True)
        values += [(str(name), value) for name, value in body.items()] if isinstance(body, dict) else [("(body)", body)]
    while values:
        name, value = values.pop()
        if isinstance(value, str) and "\x00" in value:
            return name.replace("\x00", "") or "(name)"
        if isinstance(value, dict):
            values += [(name, text) for item in value.items() for text in item]
        elif isinstance(value, list):
            values += [(name, item) for item in value]
    return None


def _start_session_clock(app: Flask, user: User) -> None:
    """Note when this session signed in: SESSION_MAX_HOURS is counted from here."""
    session["signed_in_at"] = time.time()


def _end_expired_session() -> Any:
    """Sign out a session idle for IDLE_TIMEOUT_MINUTES, or signed in SESSION_MAX_HOURS ago;
    a page asked for with GET goes to the sign-in page, which says why.

    A session with no sign-in time (signed in before sessions had one) starts counting now.
    """
    if "_user_id" not in session:
        return None
    now = time.time()
    last_seen = session.get("last_seen", now)
    signed_in_at = session.setdefault("signed_in_at", now)
    if now - last_seen > current_app.config["IDLE_TIMEOUT_MINUTES"] * 60:
        reason = "idle"
    elif now - signed_in_at > current_app.config["SESSION_MAX_HOURS"] * 3600:
        reason = "expired"
    else:
        session["last_seen"] = now
        return None
    logout_user()
    session.clear()
    if not is_api_request() and request.method == "GET":
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?"), **{reason: 1}))
    return None


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", current_app.extensions["content_security_policy"])
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(), microphone=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if "_user_id" in session or request.headers.get("Authorization"):
        headers["Cache-Control"] = "no-store"
        headers["Vary"] = ", ".join(filter(None, [headers.get("Vary"), "Cookie, Authorization"]))
    return response


def record_denied(reason: str, entity_type: str = "route", entity_id: object = None) -> None:
    """Write a refused access attempt to the audit log (committed at once)."""
    actor = current_user if current_user.is_authenticated else None
    audit.record(
        db.session, actor, "access.denied", entity_type, entity_id, detail=f"{request.method} {request.path}: {reason}"
    )
    db.session.commit()


def roles_required(*roles: str) -> Callable[[F], F]:
    """Only signed-in users with one of these roles; others are sent to sign in, or refused (403)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(*roles):
                record_denied(f"role {current_user.role} is not one of {', '.join(roles)}")
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_roles = roles  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def managed_center_or_404(center_id: int) -> Center:
    """The center, if the signed-in user manages it; otherwise 404 (and the attempt is logged)."""
    center = db.session.get(Center, center_id)
    if center is None:
        abort(404)
    if not current_user.manages(center):
        record_denied("not staff of this center", "center", center_id)
        abort(404)
    return center


def safe_next_url(target: str | None, default: str) -> str:
    """A redirect target on this site only (no open redirect): a local path, or the default."""
    if not target:
        return default
    target = target.strip().replace("\\", "/")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if any(ord(ch) < 32 for ch in target):
        return default
    return target

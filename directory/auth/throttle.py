"""Sign-in throttling: how many sign-ins an address may try, and how many may fail for an account.

OWASP ASVS 2.2.1 asks for at most 100 failed sign-ins an hour on one account, without letting
an attacker lock the real user out. Flask-Limiter counts in the rate limits' storage (Redis, or
memory), over moving windows; only failed sign-ins count against an account, never one that
succeeds or one refused for being over a limit:

- one address: 10 sign-ins a minute, whichever the accounts;
- one account at one address: 5 failures a minute, 20 an hour;
- one account, from every address together: 100 failures an hour;
- one account, from addresses that have already failed for it in the past hour: 80 of those 100.

The last limit keeps 20 failures an hour of the account's 100 for addresses new to it, so an
attacker cannot use up the account's hundred from a few addresses: the real user, signing in from
an address that has not been failing, still gets in (their first try is what that reserve is
for). Locking them out needs failures from at least 20 addresses within the hour, and even then
the account never sees more than 100 failures an hour. The limits are checked before the password
is and counted once it has failed, so attempts already under way when a limit fills can still
fail; the per-address limit, counted on arrival, bounds those to 10 a minute from each address.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, request
from flask_limiter.util import get_remote_address
from limits import parse

from directory.accounts import service
from directory.accounts.service import AccountError
from directory.extensions import limiter

F = TypeVar("F", bound=Callable[..., Any])

SIGN_INS_PER_ADDRESS = "10 per minute"
FAILURES_PER_ACCOUNT_AT_ADDRESS = "5 per minute"
HOURLY_FAILURES_PER_ACCOUNT_AT_ADDRESS = "20 per hour"
FAILURES_PER_ACCOUNT_FROM_FAILING_ADDRESSES = "80 per hour"
FAILURES_PER_ACCOUNT = "100 per hour"
#: The shared scope of the hourly (account, address) count, read to tell whether an address is new to the account.
ACCOUNT_AT_ADDRESS_SCOPE = "sign-in-failures-account-at-address"


def submitted_email() -> str:
    """Rate-limit key: the address a form was posted for, normalised, whether or not it has an account."""
    raw = request.form.get("email", "")
    try:
        address = service.normalize_email(raw)
    except AccountError:
        address = raw.strip().lower()
    return f"email:{address}"


def account_at_address() -> str:
    """Rate-limit key: the account a sign-in is for, and the client address it comes from."""
    return f"{submitted_email()} from:{get_remote_address()}"


def sign_in_failed(response: Response) -> bool:
    """The login form's answer to a password or address it did not accept (not a 429, not a redirect)."""
    return response.status_code == 400


def address_is_new_to_account() -> bool:
    """No sign-in for this account has failed from this address in the past hour."""
    identifiers = [current_app.config.get("RATELIMIT_KEY_PREFIX"), account_at_address(), ACCOUNT_AT_ADDRESS_SCOPE]
    hourly = parse(HOURLY_FAILURES_PER_ACCOUNT_AT_ADDRESS)
    return limiter.limiter.get_window_stats(hourly, *filter(None, identifiers)).remaining >= hourly.amount


def throttle_sign_ins(view: F) -> F:
    """The limits above, on a view that signs people in (POST only)."""
    post = ["POST"]
    decorators = [
        limiter.limit(SIGN_INS_PER_ADDRESS, methods=post),
        limiter.limit(
            FAILURES_PER_ACCOUNT_AT_ADDRESS, key_func=account_at_address, methods=post, deduct_when=sign_in_failed
        ),
        limiter.shared_limit(
            HOURLY_FAILURES_PER_ACCOUNT_AT_ADDRESS,
            ACCOUNT_AT_ADDRESS_SCOPE,
            key_func=account_at_address,
            methods=post,
            deduct_when=sign_in_failed,
        ),
        limiter.limit(
            FAILURES_PER_ACCOUNT_FROM_FAILING_ADDRESSES,
            key_func=submitted_email,
            methods=post,
            deduct_when=sign_in_failed,
            exempt_when=address_is_new_to_account,
            scope="from-failing-addresses",
        ),
        limiter.limit(FAILURES_PER_ACCOUNT, key_func=submitted_email, methods=post, deduct_when=sign_in_failed),
    ]
    for decorate in reversed(decorators):
        view = decorate(view)
    return view

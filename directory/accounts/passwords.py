"""Password hashing with Argon2id (memory-hard), and the password policy.

New passwords are hashed with RFC 9106's second recommended Argon2id profile (3 passes over
64 MiB, 4 lanes: argon2-cffi's default), about 0.15 s of CPU per hash or check; a stored hash is
always checked with the parameters written in it. Test suites, which make and sign in hundreds
of accounts, may use argon2-cffi's cheapest parameters instead (`PASSWORD_HASH_PROFILE`); the app
refuses that profile unless it is testing.
"""

from __future__ import annotations

import functools

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from directory.translatable import N_, Message

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

DEFAULT_PROFILE = "rfc-9106-low-memory"
#: Fast and weak: for test suites only (the app takes it only with TESTING set).
TEST_PROFILE = "cheapest-for-tests"
#: The Argon2 parameters new passwords may be hashed with, by `PASSWORD_HASH_PROFILE` name.
PROFILES: dict[str, Parameters] = {DEFAULT_PROFILE: profiles.RFC_9106_LOW_MEMORY, TEST_PROFILE: profiles.CHEAPEST}

_profile = DEFAULT_PROFILE
_hasher = PasswordHasher.from_parameters(PROFILES[_profile])


def use_profile(name: str) -> None:
    """Hash new passwords (in this whole process) with the named profile of `PROFILES`."""
    global _profile, _hasher
    if name not in PROFILES:
        raise ValueError(f"Unknown password hash profile {name!r}; use one of: {', '.join(PROFILES)}.")
    _profile, _hasher = name, PasswordHasher.from_parameters(PROFILES[name])


@functools.cache
def _dummy_hash(profile: str) -> str:
    """Checked against when the email is unknown, so a wrong email takes as long as a wrong password."""
    return PasswordHasher.from_parameters(PROFILES[profile]).hash("not-a-real-password-0123456789")


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return Message(N_("Use at least %(n)s characters."), n=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        return Message(N_("Use at most %(n)s characters."), n=MAX_PASSWORD_LENGTH)
    if not password.strip():
        return N_("A password cannot be only spaces.")
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash, spend the same time and say no."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(_profile), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)

"""Which Argon2 parameters new passwords get: the real ones unless a test suite asks otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import extract_parameters, profiles

from directory import create_app
from directory.accounts import passwords
from tests.conftest import database_url

PASSWORD = "a long enough password"


@pytest.fixture(autouse=True)
def _back_to_the_tests_profile() -> Iterator[None]:
    yield
    passwords.use_profile(passwords.TEST_PROFILE)


def _app(tmp_path: Path, **config: object) -> None:
    create_app({"SECRET_KEY": "test", "DATABASE_URL": database_url(tmp_path), **config})


def test_an_app_hashes_new_passwords_with_rfc_9106s_argon2id_profile_by_default(tmp_path: Path) -> None:
    _app(tmp_path)
    stored = passwords.hash_password(PASSWORD)
    assert extract_parameters(stored) == profiles.RFC_9106_LOW_MEMORY
    assert (profiles.RFC_9106_LOW_MEMORY.time_cost, profiles.RFC_9106_LOW_MEMORY.memory_cost) == (3, 64 * 1024)
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, PASSWORD) and not passwords.verify_password(stored, PASSWORD + "x")
    assert not passwords.needs_rehash(stored)


def test_the_tests_cheap_profile_is_refused_outside_testing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PASSWORD_HASH_PROFILE=cheapest-for-tests is for test suites only"):
        _app(tmp_path, PASSWORD_HASH_PROFILE=passwords.TEST_PROFILE)
    with pytest.raises(ValueError, match="Unknown password hash profile 'md5'; use one of: rfc-9106-low-memory"):
        _app(tmp_path, PASSWORD_HASH_PROFILE="md5")


def test_a_cheap_hash_is_rehashed_at_the_real_cost_once_the_app_uses_it(tmp_path: Path) -> None:
    passwords.use_profile(passwords.TEST_PROFILE)
    cheap = passwords.hash_password(PASSWORD)
    assert extract_parameters(cheap) == profiles.CHEAPEST
    _app(tmp_path, TESTING=True)
    # A stored hash is checked with its own parameters, and a sign-in replaces it (auth.service).
    assert passwords.verify_password(cheap, PASSWORD)
    assert passwords.needs_rehash(cheap)

"""The portal's two centers and their accounts (tests/portal/conftest.py), for the upkeep tests."""

from tests.portal.conftest import cast, store  # noqa: F401  (fixtures)

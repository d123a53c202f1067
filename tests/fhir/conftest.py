"""The referral API tests' world (three centers, a sender, another sender, staff of each center, an
admin, each with an API token), for the FHIR views of the same referrals."""

from tests.api.test_referrals_api import people, store  # noqa: F401 (fixtures)

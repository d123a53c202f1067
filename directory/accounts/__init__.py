"""Accounts: passwords, invitations, password resets, API tokens and sign-in checks (no Flask)."""

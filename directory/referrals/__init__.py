"""Referrals: intake validation and the lifecycle from submission to admission (no Flask)."""

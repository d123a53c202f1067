"""The referral router: clinical rules and candidate ranking, pure functions over plain data."""

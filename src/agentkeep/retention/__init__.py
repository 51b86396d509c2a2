"""Retention: the profile's rules, archives of what is due, then its deletion (docs/retention.md)."""

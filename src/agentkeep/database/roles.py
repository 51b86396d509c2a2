"""The PostgreSQL roles agentkeep connects as: named here once, used everywhere else.

Plain identifiers (lowercase, no quoting needed): SQL that names a role may write it in as is.
"""

from __future__ import annotations

OWNER_ROLE = "agentkeep_owner"
"""Owns the schema and runs the migrations."""

APP_ROLE = "agentkeep_app"
"""What the service and SDK connect as: no superuser, no BYPASSRLS, owns nothing."""

SUPERUSER = "postgres"
"""The embedded server's superuser (initdb -U postgres): bootstrap only."""

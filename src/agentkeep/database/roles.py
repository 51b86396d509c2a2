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

OPERATOR_ROLE = "agentkeep_operator"
"""Owns the operator functions (SECURITY DEFINER) and nothing else: NOLOGIN, no BYPASSRLS.

Its read policies let it see every user's rows, only while the transaction acts for the
operator principal; the application role is not a member, it only may EXECUTE the functions.
"""

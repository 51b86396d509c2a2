"""The profile catalog: applied profiles and the active profile's vocabulary terms.

Operator tables (Citus reference tables): the application role reads them (the vocabulary
triggers and keep.profile do), only the schema owner writes them (``profile apply``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.metadata import OPERATOR_TABLE, metadata, timestamps

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("sha256", sa.LargeBinary, nullable=False),
    sa.Column("content", pg.JSONB, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("applied_at", sa.DateTime(timezone=True)),
    *timestamps(),
    sa.CheckConstraint("octet_length(sha256) = 32", name="sha256_length"),
    sa.CheckConstraint("jsonb_typeof(content) = 'object'", name="content_object"),
    # At most one active profile.
    sa.Index("uq_profiles_active", "is_active", unique=True, postgresql_where=sa.text("is_active")),
    info=OPERATOR_TABLE,
)

vocabulary_terms = sa.Table(
    "vocabulary_terms",
    metadata,
    sa.Column("vocabulary", sa.String(63), primary_key=True),
    sa.Column("term", sa.String(100), primary_key=True),
    sa.Column("position", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
    *timestamps(),
    sa.CheckConstraint("vocabulary ~ '^[a-z][a-z0-9_]{0,62}$'", name="vocabulary_name"),
    info=OPERATOR_TABLE,
)

"""The seeds' own table names, per compatibility schema, and the agentkeep table serving each.

Seed 000 creates its tables one by one (``python db/migrate.py --table kai_sessions``); under the
``kai`` profile ``agentkeep migrate up --table`` and ``migrate status`` take and show those names
(docs/decisions.md, "Migrating by the seed's table names").
"""

from __future__ import annotations

from collections.abc import Mapping

# compatibility schema -> the seed's table -> the agentkeep table that serves it
SEED_TABLES: Mapping[str, Mapping[str, str]] = {
    "kai": {
        "kai_sessions": "agent_sessions",
        "kai_decisions": "decisions",
        "session_tokens": "user_sessions",
    },
}


def table_for(name: str, schema: str | None) -> str:
    """The agentkeep table serving ``name`` in ``schema``'s seed; ``name`` itself otherwise."""
    return SEED_TABLES.get(schema or "", {}).get(name, name)


def seed_names(schema: str | None) -> dict[str, tuple[str, ...]]:
    """agentkeep table -> the seed names it serves in ``schema``."""
    names: dict[str, list[str]] = {}
    for seed_name, table in SEED_TABLES.get(schema or "", {}).items():
        names.setdefault(table, []).append(seed_name)
    return {table: tuple(listed) for table, listed in names.items()}

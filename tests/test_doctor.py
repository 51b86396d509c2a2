"""`agentkeep doctor`'s checks: data the CLI prints, each one able to fail."""

from __future__ import annotations

from agentkeep.database.doctor import DATABASE_CHECKS, Check, run_checks
from agentkeep.database.engine import Database
from agentkeep.database.urls import DatabaseUrls


async def test_a_healthy_embedded_database_passes_every_check(database: Database) -> None:
    checks = await run_checks(database)
    assert all(isinstance(check, Check) for check in checks)
    assert [check.name for check in checks if not check.ok] == []
    # Reachability, one per database check, then migrations.
    assert len(checks) == len(DATABASE_CHECKS) + 2
    by_name = {check.name: check for check in checks}
    assert by_name["pgvector"].detail.startswith("installed ")
    assert "nothing needs it yet" in by_name["pgvector"].detail
    assert "memory features" in by_name["pgvector"].detail
    assert by_name["creation rights"].ok


async def test_a_database_opened_without_its_tables_cannot_vouch_for_row_level_security(
    urls: DatabaseUrls, database: Database
) -> None:
    bare = Database.from_urls(urls, pool_size=1)
    try:
        checks = {check.name: check for check in await run_checks(bare)}
    finally:
        await bare.close()
    assert not checks["row-level security"].ok
    assert "without its tables" in checks["row-level security"].detail
    assert checks["database reachable"].ok

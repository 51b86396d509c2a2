"""``retention run`` with devassist's rules (001): dry run, archives, deletion, manifest."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agentkeep.audit.service import AuditService
from agentkeep.retention.archive import read_rows, sha256_of
from retention_support import Scratch, agent_session, ago, archived_rows, scratch_database, user_session


@pytest.fixture
async def scratch(database_factory: Any, tmp_path: Path) -> AsyncIterator[Scratch]:
    async for made in scratch_database(database_factory, tmp_path / "archive", "devassist"):
        yield made


def _checked_manifest(path_text: str | None, sha256: str | None) -> dict[str, Any]:
    """The manifest, once its own hash and every file's count and hash are checked."""
    path = Path(path_text or "")
    assert sha256_of(path) == sha256
    manifest: dict[str, Any] = json.loads(path.read_text())
    listed = {entry["file"] for entry in manifest["files"]}
    assert listed == {file.name for file in path.parent.glob("*.jsonl.gz")}
    for entry in manifest["files"]:
        archive_file = path.parent / entry["file"]
        assert sha256_of(archive_file) == entry["sha256"]
        assert len(read_rows(archive_file)) == entry["rows"]
    return manifest


def _months_match(folder: str | None, table: str, column: str) -> bool:
    """The month in each file's name is the month of its rows' age column."""
    for file in Path(folder or "").glob(f"{table}-*.jsonl.gz"):
        month = file.name.removeprefix(f"{table}-").removesuffix(".jsonl.gz")
        if {row[column][:7] for row in read_rows(file)} != {month}:
            return False
    return True


async def _devassist_world(scratch: Scratch) -> dict[str, Any]:
    """Two users; for each: sessions due under 001's rules and sessions that are not."""
    world: dict[str, Any] = {"due": {"user_sessions": {}, "agent_sessions": {}}, "kept": set()}
    for _ in range(2):
        user_id = await scratch.new_user()
        old_session = user_session(ended=ago(years=3), user_agent=f"ua-{uuid.uuid4()}")
        recent_session = user_session(ended=ago(days=30))
        open_session = user_session(ended=None)
        context = json.dumps({"k": str(uuid.uuid4())})
        old_done = agent_session(status="completed", completed=ago(years=2), context=context)
        old_failed = agent_session(status="failed", completed=ago(years=2))  # condition: completed only
        recent_done = agent_session(status="completed", completed=ago(days=10))
        rows = [old_session, recent_session, open_session, old_done, old_failed, recent_done]
        await scratch.write(user_id, rows)
        world["due"]["user_sessions"][old_session[1]["id"]] = old_session[1]
        world["due"]["agent_sessions"][old_done[1]["id"]] = old_done[1]
        world["kept"] |= {row[1]["id"] for row in (recent_session, open_session, old_failed, recent_done)}
    return world


async def test_dry_run_reports_what_is_due_and_changes_nothing(scratch: Scratch) -> None:
    world = await _devassist_world(scratch)
    before = await scratch.counts()
    summary = await scratch.service().run(dry_run=True)
    # 001 keeps governance events 7 years (revision 0012 made the table): none is due here.
    assert {result.table: result.due for result in summary.tables} == {
        "governance_events": 0,
        "agent_sessions": 2,
        "user_sessions": 2,
    }
    assert all(result.archived == result.deleted == 0 for result in summary.tables)
    assert await scratch.counts() == before
    assert not scratch.archive_root.exists()  # not even a folder
    assert summary.manifest is None
    assert world["due"]["user_sessions"].keys() <= await scratch.ids("user_sessions")


async def test_a_run_archives_exactly_the_rows_it_deletes(scratch: Scratch) -> None:
    world = await _devassist_world(scratch)
    before = await scratch.counts()
    summary = await scratch.service().run()
    assert summary.ran and summary.profile == "devassist 1.0.0"
    assert list(summary.notes) == []
    after = await scratch.counts()
    for table in ("user_sessions", "agent_sessions"):
        due = world["due"][table]
        assert before[table] - after[table] == len(due) == 2
        [result] = [r for r in summary.tables if r.table == table]
        assert result.archived == result.deleted == 2
        # Read the archive back: exactly the rows inserted, with their content.
        archived = archived_rows(summary.archive_folder, table)
        assert {uuid.UUID(row["id"]) for row in archived} == set(due)
        for row in archived:
            inserted = due[uuid.UUID(row["id"])]
            if table == "user_sessions":
                assert row["user_agent"] == inserted["user_agent"]
                assert bytes.fromhex(row["token_hash"][2:]) == inserted["token_hash"]
            else:
                assert row["context"] == json.loads(inserted["context"])
                assert row["status"] == "completed"
        column = "ended_at" if table == "user_sessions" else "completed_at"
        assert _months_match(summary.archive_folder, table, column)
    remaining = await scratch.ids("user_sessions") | await scratch.ids("agent_sessions")
    assert world["kept"] <= remaining
    assert not remaining & (set(world["due"]["user_sessions"]) | set(world["due"]["agent_sessions"]))


async def test_the_manifest_counts_and_hashes_every_file(scratch: Scratch) -> None:
    await _devassist_world(scratch)
    summary = await scratch.service().run()
    manifest = _checked_manifest(summary.manifest, summary.manifest_sha256)
    assert manifest["run_id"] == summary.run_id
    assert manifest["tables"] == {
        "governance_events": {"archived": 0, "deleted": 0},
        "agent_sessions": {"archived": 2, "deleted": 2},
        "user_sessions": {"archived": 2, "deleted": 2},
    }
    # The same run again finds nothing due, deletes nothing, and still leaves its manifest.
    again = await scratch.service().run()
    assert again.rows_archived == again.rows_deleted == 0
    assert _checked_manifest(again.manifest, again.manifest_sha256)["files"] == []


async def test_a_user_session_an_agent_session_still_refers_to_is_kept(scratch: Scratch) -> None:
    user_id = await scratch.new_user()
    old = user_session(ended=ago(years=3))
    # Paused (not ended): not due, and it keeps its user session. (Not running: under devassist
    # no row may be written straight into running without an approval event, revision 0012.)
    running = agent_session(status="paused", completed=None, user_session_id=old[1]["id"])
    await scratch.write(user_id, [old, running])
    summary = await scratch.service().run()
    assert summary.rows_deleted == 0
    assert old[1]["id"] in await scratch.ids("user_sessions")


async def test_a_run_is_audited_and_the_trail_still_verifies(scratch: Scratch) -> None:
    world = await _devassist_world(scratch)
    summary = await scratch.service().run()
    deleted = {**world["due"]["user_sessions"], **world["due"]["agent_sessions"]}
    conn = await scratch.owner()
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL agentkeep.principal = 'operator'")
            [cleanup] = await conn.fetch(
                "SELECT new_values FROM audit_log WHERE user_id = '00000000-0000-0000-0000-000000000000'"
                " AND operation = 'ACTION' AND action_type = 'CLEANUP'"
            )
            deletions = await conn.fetch(
                "SELECT table_name, old_values ->> 'id' AS id FROM audit_log WHERE operation = 'DELETE'"
            )
    finally:
        await conn.close()
    details = json.loads(cleanup["new_values"])
    assert details["run_id"] == summary.run_id
    assert details["manifest_sha256"] == summary.manifest_sha256
    assert details["tables"] == {"governance_events": 0, "agent_sessions": 2, "user_sessions": 2}
    # Every deleted row has its DELETE entry, written by its table's audit trigger.
    assert {uuid.UUID(row["id"]) for row in deletions} == set(deleted)
    report = await AuditService(scratch.database).verify()
    assert report.ok, (report.breaks, report.live_rows)

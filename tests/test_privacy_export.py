"""Export (a data-subject access request): one JSON document with every row of the user in every
table, encrypted values decrypted, credential hashes withheld, nobody else's rows; the export is
itself recorded in the user's audit chain."""

from __future__ import annotations

import json
import uuid

import pytest

from agentkeep.decisions.models import NewDecision
from agentkeep.errors import NotFound
from agentkeep.keep import Keep
from agentkeep.privacy.holdings import holding_tables
from audit_support import user_with_rows
from privacy_support import seal_secret


async def _export(keep: Keep, user_id: uuid.UUID) -> tuple[dict[str, object], int, int]:
    totals: list[int] = []
    done: list[int] = []
    text = "".join(
        [piece async for piece in keep.privacy.export(user_id, on_total=totals.append, progress=done.append)]
    )
    return json.loads(text), totals[0], sum(done)


async def test_export_holds_everything_of_the_user_and_nothing_of_others(keep: Keep) -> None:
    mark = uuid.uuid4().hex[:8]
    user = await user_with_rows(keep, text=f"mine {mark}", messages=4, password="correct horse battery")
    other = await user_with_rows(keep, text=f"theirs {mark}", messages=2)
    secret = f"sk-sealed-secret-{mark}"
    await seal_secret(keep, user.user_id, secret)
    why = f"sealed rationale {mark}"
    decision = await keep.decisions.create(user.user_id, NewDecision(decision_type="review", rationale=why))

    document, total, progressed = await _export(keep, user.user_id)

    assert document["format"] == "agentkeep-export-v1" and document["user_id"] == str(user.user_id)
    tables = document["tables"]
    assert isinstance(tables, dict)
    assert set(tables) == {table.name for table in holding_tables()}
    contents = sorted(row["content"] for row in tables["messages"])
    assert contents == [f"mine {mark} {n}" for n in range(4)]
    assert [row["email"] for row in tables["users"]] == [user.email]
    every_row = [row for rows in tables.values() for row in rows]
    assert all(row["user_id"] == str(user.user_id) for row in every_row)
    text = json.dumps(document)
    assert f"theirs {mark}" not in text and str(other.user_id) not in text
    assert secret in text  # decrypted, not as its envelope
    exported = {row["id"]: row for row in tables["decisions"]}
    assert exported[str(decision.id)]["rationale_sealed"] == why  # the profile seals it; here in clear
    assert len(tables["decisions"]) == 2  # and user_with_rows' own
    # Credential hashes are named as withheld and are not in the document.
    assert "password_hash" in document["withheld"]["users"]  # type: ignore[index]
    assert all("password_hash" not in row for row in tables["users"])
    trail = document["audit_trail"]
    assert isinstance(trail, list) and trail
    assert [entry["seq"] for entry in trail] == list(range(trail[0]["seq"], trail[0]["seq"] + len(trail)))
    assert total == progressed == len(every_row) + len(trail)


async def test_the_export_is_recorded_and_an_unknown_user_is_not_found(keep: Keep) -> None:
    user = await user_with_rows(keep, text="recorded")
    await _export(keep, user.user_id)
    page = await keep.audit.trail(user.user_id, limit=1)
    assert page.items[0].action_type == "EXPORT"
    with pytest.raises(NotFound):
        await _export(keep, uuid.uuid4())

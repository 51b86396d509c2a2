"""Encrypted decisions: the profile's encrypted parts are sealed with the user's data key
(agentkeep.vault), the stored row and the audit trail hold only ciphertext, and seed 000's scenario:
a decision card encrypted for one user cannot be read with another user's key or without the vault.

The shared database runs the default profile (rationale sealed); the ``kai`` scenario runs on a
database of its own with the ``kai`` profile applied (decision card and debate sealed).
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentkeep.agent_sessions.models import NewAgentSession
from agentkeep.database import migrate
from agentkeep.database.engine import Database
from agentkeep.decisions.models import NewDecision
from agentkeep.decisions.service import DecisionService
from agentkeep.errors import ConfigurationError, InvalidInput
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.profiles.loader import load_profile
from agentkeep.schema import SCHEMA
from agentkeep.settings import load_settings
from agentkeep.users.models import NewUser
from agentkeep.vault import cipher
from agentkeep.vault.keyring import Keyring
from agentkeep.vault.master import LocalMasterKey, MasterKeyError
from audit_support import superuser

STORED = (
    "SELECT rationale, rationale_sealed, decision_card, decision_card_sealed, debate_transcript_sealed"
    " FROM decisions WHERE id = $1"
)


async def _audit_text(database: Database, user_id: uuid.UUID) -> str:
    """Every audit entry of the user's decisions, as text."""
    async with superuser(database) as conn:
        rows = await conn.fetch(
            "SELECT coalesce(old_values::text, '') || coalesce(new_values::text, '') FROM audit_log"
            " WHERE user_id = $1 AND table_name = 'decisions'",
            user_id,
        )
    return "\n".join(row[0] for row in rows)


async def test_the_default_profile_seals_the_rationale_and_audit_holds_only_ciphertext(
    keep: Keep, make_user: Any, database: Database, as_app: Any
) -> None:
    user = await make_user()
    canary = f"canary-{uuid.uuid4().hex}"
    made = await keep.decisions.create(
        user.user_id,
        NewDecision(decision_type="review", rationale=f"because {canary}", decision_card={"k": 1}),
    )
    assert made.rationale == f"because {canary}"
    assert made.encrypted_fields == ["decision_rationale"]
    assert (await keep.decisions.get(user.user_id, made.id)).rationale == f"because {canary}"
    async with as_app(Principal.user(user.user_id)) as conn:
        row = await conn.fetchrow(STORED, made.id)
        assert row["rationale"] is None and canary.encode() not in row["rationale_sealed"]
        assert (
            row["decision_card"] is not None and row["decision_card_sealed"] is None
        )  # not sealed by default
        # 002's view shows no rationale: only the SDK, with the vault, opens it.
        [view] = await conn.fetch(
            "SELECT decision_rationale FROM agentic.agent_decisions WHERE decision_id = $1", made.id
        )
        assert view["decision_rationale"] is None
    trail = await _audit_text(database, user.user_id)
    assert "rationale_sealed" in trail
    assert canary not in trail
    hexed = canary.encode().hex()
    assert hexed not in trail


async def test_a_sealed_part_cannot_move_to_another_row_or_user(
    keep: Keep, make_user: Any, database: Database
) -> None:
    alice, bob = await make_user(), await make_user()
    hers = await keep.decisions.create(
        alice.user_id, NewDecision(decision_type="test", rationale="alice's reason")
    )
    other = await keep.decisions.create(alice.user_id, NewDecision(decision_type="test", rationale="another"))
    his = await keep.decisions.create(
        bob.user_id, NewDecision(decision_type="test", rationale="bob's reason")
    )
    async with superuser(database) as conn:  # a tamperer with the database, not the vault
        envelope = await conn.fetchval("SELECT rationale_sealed FROM decisions WHERE id = $1", hers.id)
        await conn.execute(
            "UPDATE decisions SET rationale_sealed = $1 WHERE id = ANY($2)", envelope, [other.id, his.id]
        )
    with pytest.raises(cipher.DecryptionError):
        await keep.decisions.get(alice.user_id, other.id)  # same user, another row
    with pytest.raises(cipher.DecryptionError):
        await keep.decisions.get(bob.user_id, his.id)  # another user (his key, his row)
    assert (await keep.decisions.get(alice.user_id, hers.id)).rationale == "alice's reason"


# --- seed 000: the kai profile ------------------------------------------------------------------


@pytest.fixture
async def kai(database_factory: Any) -> AsyncIterator[Keep]:
    """A database of its own with the kai profile applied (the card and the debate are sealed)."""
    async with database_factory("agentkeep_decisions_kai") as urls:
        database = Database.from_urls(urls, schema=SCHEMA)
        await migrate.upgrade(database)
        keep = Keep(database, load_settings())
        await keep.profile.apply(load_profile("kai"))
        yield keep
        await database.close()


async def test_kai_seals_the_card_and_the_debate_and_requires_a_ticker(kai: Keep) -> None:
    user = await kai.users.create(NewUser(email=f"kai-{uuid.uuid4().hex[:8]}@example.com"))
    session = await kai.agent_sessions.create(user.user_id, NewAgentSession(agent_type="kai"))
    with pytest.raises(InvalidInput) as refused:
        await kai.decisions.create(user.user_id, NewDecision(decision_type="buy"))
    assert refused.value.field == "subject"
    card = {"ticker": "NVDA", "verdict": "buy", "why": "canary-card"}
    made = await kai.decisions.create(
        user.user_id,
        NewDecision(
            decision_type="buy",
            subject="NVDA",
            agent_session_id=session.id,
            decision_card=card,
            debate_transcript="bull vs bear canary-debate",
            rationale="plain here",
        ),
    )
    assert made.encrypted_fields == ["decision_card", "debate_transcript"]
    assert (made.decision_card, made.debate_transcript, made.rationale) == (
        card,
        "bull vs bear canary-debate",
        "plain here",
    )
    async with kai.database.transaction(Principal.user(user.user_id)) as tx:
        row = await tx.driver.fetchrow(STORED, made.id)
        view = await tx.driver.fetchrow("SELECT * FROM kai.kai_decisions WHERE id = $1", made.id)
        key = await kai.keyring.current(tx.driver, user.user_id)
    assert row["decision_card"] is None and b"canary-card" not in row["decision_card_sealed"]
    assert row["rationale"] == "plain here" and row["rationale_sealed"] is None
    # 000's columns: iv, ciphertext and tag of the card, base64, put back together, open with the
    # user's key and the binding; the debate's whole envelope is debate_ciphertext.
    assert (view["ticker"], view["decision_type"], view["algorithm"]) == ("NVDA", "buy", "aes-256-gcm")
    iv, ciphertext, tag = (base64.b64decode(view[c]) for c in ("iv", "decision_ciphertext", "tag"))
    assert (len(iv), len(tag)) == (12, 16)
    sealed = cipher.Sealed(nonce=iv, ciphertext=ciphertext, tag=tag, key_version=key.version)
    binding = key.binding("decisions", "decision_card_sealed", str(made.id))
    assert cipher.unseal(key.key, sealed, binding) == b'{"ticker":"NVDA","verdict":"buy","why":"canary-card"}'
    debate = base64.b64decode(view["debate_ciphertext"])
    assert (
        key.unseal("decisions", "debate_transcript_sealed", str(made.id), debate)
        == b"bull vs bear canary-debate"
    )


async def test_seed_000_a_card_for_one_user_cannot_be_read_with_anothers_key_or_without_the_vault(
    kai: Keep,
) -> None:
    alice = await kai.users.create(NewUser(email=f"alice-{uuid.uuid4().hex[:8]}@example.com"))
    bob = await kai.users.create(NewUser(email=f"bob-{uuid.uuid4().hex[:8]}@example.com"))
    made = await kai.decisions.create(
        alice.user_id, NewDecision(decision_type="hold", subject="AAPL", decision_card={"secret": "canary"})
    )
    await kai.decisions.create(bob.user_id, NewDecision(decision_type="buy", subject="AMD", decision_card={}))
    async with kai.database.transaction(Principal.service(alice.user_id)) as tx:
        envelope = bytes(
            await tx.driver.fetchval("SELECT decision_card_sealed FROM decisions WHERE id = $1", made.id)
        )
    async with kai.database.transaction(Principal.service(bob.user_id)) as tx:
        bobs_key = await kai.keyring.current(tx.driver, bob.user_id)
    # Bob's key, even told exactly where the card lives (Alice's binding), opens nothing.
    sealed = cipher.Sealed.from_envelope(envelope)
    alices_place = cipher.Binding(
        alice.user_id, "decisions", "decision_card_sealed", str(made.id), sealed.key_version
    )
    with pytest.raises(cipher.DecryptionError):
        cipher.unseal(bobs_key.key, sealed, alices_place)
    # Without the vault: a service with no keyring, and a keyring with another master key.
    with pytest.raises(ConfigurationError):
        await DecisionService(kai.database).get(alice.user_id, made.id)
    stranger = Keyring(kai.database, LocalMasterKey.from_key(os.urandom(32), source="a stranger's key"))
    with pytest.raises(MasterKeyError):
        await DecisionService(kai.database, stranger).get(alice.user_id, made.id)
    # The right user through the vault reads it.
    assert (await kai.decisions.get(alice.user_id, made.id)).decision_card == {"secret": "canary"}
    # And the seed's view of it holds ciphertext only.
    async with kai.database.transaction(Principal.user(alice.user_id)) as tx:
        view = await tx.driver.fetchrow("SELECT * FROM kai.kai_decisions WHERE id = $1", made.id)
    assert b"canary" not in base64.b64decode(view["decision_ciphertext"])


async def test_seed_000s_lookup_by_ticker_reads_the_sealed_card(kai: Keep) -> None:
    user = await kai.users.create(NewUser(email=f"view-{uuid.uuid4().hex[:8]}@example.com"))
    made = await kai.decisions.create(
        user.user_id, NewDecision(decision_type="reduce", subject="TSLA", decision_card={})
    )
    # 000:69 idx_kai_decisions_ticker's query, with the seed's search path.
    async with kai.database.transaction(Principal.user(user.user_id)) as tx:
        await tx.driver.execute("SET LOCAL search_path = kai")
        rows = await tx.driver.fetch(
            "SELECT id, ticker, iv, tag, algorithm FROM kai_decisions WHERE ticker = $1", "TSLA"
        )
    assert [(row["id"], row["ticker"], row["algorithm"]) for row in rows] == [
        (made.id, "TSLA", "aes-256-gcm")
    ]


async def test_rotating_the_users_key_reseals_every_part_and_each_still_opens(kai: Keep) -> None:
    user = await kai.users.create(NewUser(email=f"rot-{uuid.uuid4().hex[:8]}@example.com"))
    made = [
        await kai.decisions.create(
            user.user_id,
            NewDecision(
                decision_type="buy", subject=f"T{n}", decision_card={"n": n}, debate_transcript=f"debate {n}"
            ),
        )
        for n in range(3)
    ]
    report = await kai.vault.rotate_user(user.user_id, batch_size=2)
    assert report.finished and report.rows == 6  # card and debate of each decision
    async with kai.database.transaction(Principal.service(user.user_id)) as tx:
        envelopes = await tx.driver.fetch(
            "SELECT decision_card_sealed, debate_transcript_sealed FROM decisions WHERE user_id = $1",
            user.user_id,
        )
    versions = {cipher.envelope_key_version(bytes(value)) for row in envelopes for value in row}
    assert versions == {report.new_version}
    for n, decision in enumerate(made):
        got = await kai.decisions.get(user.user_id, decision.id)
        assert (got.decision_card, got.debate_transcript) == ({"n": n}, f"debate {n}")

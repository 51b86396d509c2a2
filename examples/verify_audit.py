"""An independent verifier of agentkeep's audit chains (docs/audit.md), in about 50 lines.

    python examples/verify_audit.py postgresql://agentkeep_owner:...@host/db

Connects as the owner acting as operator, recomputes every entry's hashes from its stored
columns and prints each chain's first broken link ("user seq problem"), or "ok <entries>".
Uses only asyncpg and hashlib: nothing of agentkeep.
"""

import asyncio
import sys
from hashlib import sha256

import asyncpg

ENTRIES = """
SELECT user_id::text, seq, id::text, (extract(epoch FROM occurred_at) * 1000000)::bigint, table_name,
       encode(record_key_hash, 'hex'), operation, actor, acting_user_id::text, correlation_id, action_type,
       risk_level, agent_id::text, session_id::text, payload_hash, row_hash, prev_hash, entry_hash,
       redacted_at IS NULL, record_id::text, old_values::text, new_values::text, ip_address::text, user_agent
  FROM audit_log ORDER BY user_id, seq"""


def field(value: object) -> bytes:
    text = None if value is None else (value.hex() if isinstance(value, bytes) else str(value))
    return b"-" if text is None else b"%d:%s" % (len(text.encode()), text.encode())


async def main(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    broken, count, chain, expected_seq, expected_hash = [], 0, None, 1, bytes(32)
    async with conn.transaction():
        await conn.execute("SET LOCAL agentkeep.principal = 'operator'")
        async for row in conn.cursor(ENTRIES, prefetch=10_000):
            user, seq, prev, digest, intact = row[0], row[1], row[16], row[17], row[18]
            payload = b"".join(field(value) for value in row[19:24])
            if user != chain:
                chain, expected_seq, expected_hash, failed = user, 1, bytes(32), False
            count += 1
            if failed:
                continue
            header = b"agentkeep-audit-v1" + b"".join(
                field(value) for value in (*row[:14], row[14], row[15], prev)
            )
            problem = (
                f"entry missing (expected seq {expected_seq})"
                if seq != expected_seq
                else "prev_hash differs"
                if prev != expected_hash
                else "payload differs"
                if intact and sha256(payload).digest() != row[14]
                else "entry_hash differs"
                if sha256(header).digest() != digest
                else None
            )
            if problem:
                broken.append(f"{user} {min(seq, expected_seq)} {problem}")
                failed = True
            expected_seq, expected_hash = seq + 1, digest
    await conn.close()
    print("\n".join(broken) if broken else f"ok {count}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))

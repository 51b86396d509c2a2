"""audit: the tamper-evident audit trail (hash chains per user, written by triggers)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 14:30:00.000000

- ``audit_log`` (the entries) and ``audit_chain_heads`` (the last seq and hash of each chain):
  user tables, keyed by the chain's user; the operator/system chain is the nil UUID. No foreign
  key to users: a user's trail outlives the user.
- ``audit_append`` (SECURITY DEFINER, not callable by the application role) appends one entry:
  it locks the chain's head row, so one user's writers queue and different users never wait.
  The hashes follow docs/audit.md ("canonical encoding"); that text and this SQL must agree.
- Row triggers ``audit_<table>`` on every table of the schema but the audit tables;
  ``audit_record_action`` appends an action entry (seed 002's agent_audit_log).
- Append-only: the application role may only SELECT its own entries; a BEFORE UPDATE/DELETE
  trigger refuses every change for every role but the narrow one redaction makes (payload
  columns to NULL and redacted_at set), a BEFORE TRUNCATE trigger refuses truncation.
- A BASELINE entry per row that exists at upgrade time, so live rows can be checked on
  upgraded databases too.
- An ``<table>_operator_read`` policy on every audited user and handle table that lacks one (as
  0004 made for two): verification reads every user's rows as the owner acting as operator.
- Compat views ``devassist.audit_log`` (001) and ``agentic.agent_audit_log`` (002, writable
  through an INSTEAD OF trigger).

Table names, tenancies and key columns are literals here, so later model changes do not change
this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.migrations import ddl
from agentkeep.database.migrations.audit_citus_0005 import CITUS_FUNCTIONS, CITUS_UPDATED_AT_TRIGGERS
from agentkeep.database.roles import APP_ROLE

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

creates_tables: tuple[str, ...] = ("audit_log", "audit_chain_heads")

# table -> (chain: "user" = the row's user_id, "operator" = the nil UUID; the key columns), in
# the order their baseline entries are written.
AUDITED = {
    "users": ("user", ("user_id",)),
    "user_emails": ("user", ("email",)),
    "user_usernames": ("user", ("username",)),
    "api_keys": ("user", ("user_id", "id")),
    "user_sessions": ("user", ("user_id", "id")),
    "agent_sessions": ("user", ("user_id", "id")),
    "conversations": ("user", ("user_id", "id")),
    "persona_activations": ("user", ("user_id", "id")),
    "messages": ("user", ("user_id", "id")),
    "agents": ("operator", ("id",)),
    "personas": ("operator", ("id",)),
    "service_keys": ("operator", ("id",)),
    "profiles": ("operator", ("name",)),
    "vocabulary_terms": ("operator", ("vocabulary", "term")),
}
# Distributed by the handle, not by user_id (0002): on Citus a handle's shard is in general on
# another worker than its user's audit shard, which a trigger there cannot write. Not audited on
# Citus; the handle is also in the users row, whose entries record every change of it.
HANDLE_TABLES = ("user_emails", "user_usernames")
# 0004 made these; the others get theirs here.
HAS_OPERATOR_READ = ("agent_sessions", "user_sessions")
FORCED_USER_TABLES = tuple(
    table for table, (chain, _key) in AUDITED.items() if chain == "user" and table not in HAS_OPERATOR_READ
)
# The seeds' names for the trail (compatibility schemas of 0003); the second takes INSERT too.
COMPAT_VIEWS = (("devassist", "audit_log"), ("agentic", "agent_audit_log"))
INSERTABLE_VIEWS = (("agentic", "agent_audit_log"),)
IS_OPERATOR = "coalesce(current_setting('agentkeep.principal', true), '') = 'operator'"
NIL_UUID = "00000000-0000-0000-0000-000000000000"

FUNCTIONS = {
    # A UUIDv7 on every supported server (uuidv7() is built in from PostgreSQL 18 only).
    "audit_new_id()": """
CREATE FUNCTION audit_new_id() RETURNS uuid LANGUAGE sql VOLATILE AS $$
SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
       PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
       FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$
""",
    # One header field (docs/audit.md): '-' for NULL, else its length in bytes, ':' and the text.
    "audit_field(text)": """
CREATE FUNCTION audit_field(value text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN value IS NULL THEN '-' ELSE octet_length(value)::text || ':' || value END
$$
""",
    "audit_append(uuid,text,jsonb,text,jsonb,jsonb,text,text,uuid,uuid,inet,text)": """
CREATE FUNCTION audit_append(
    p_user_id uuid, p_table_name text, p_record_id jsonb, p_operation text,
    p_old_values jsonb, p_new_values jsonb, p_action_type text, p_risk_level text,
    p_agent_id uuid, p_session_id uuid, p_ip_address inet, p_user_agent text
) RETURNS uuid LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_id          uuid := audit_new_id();
    v_at          timestamptz := clock_timestamp();
    v_principal   text := nullif(current_setting('agentkeep.principal', true), '');
    v_acting      uuid := nullif(current_setting('agentkeep.user_id', true), '')::uuid;
    v_correlation text := nullif(current_setting('agentkeep.correlation_id', true), '');
    v_actor       text;
    v_seq         bigint;
    v_prev        bytea;
    v_key_hash    bytea;
    v_payload     bytea;
    v_row_hash    bytea;
    v_hash        bytea;
    v_new_text    text := p_new_values::text;
BEGIN
    v_actor := coalesce(v_principal, CASE WHEN v_acting IS NULL THEN 'owner' ELSE 'user' END);
    -- The head row serialises the writers of this chain only.
    SELECT h.seq, h.hash INTO v_seq, v_prev FROM audit_chain_heads AS h WHERE h.user_id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_chain_heads (user_id, seq, hash) VALUES (p_user_id, 0, decode(repeat('00', 32), 'hex'))
            ON CONFLICT (user_id) DO NOTHING;
        SELECT h.seq, h.hash INTO v_seq, v_prev FROM audit_chain_heads AS h WHERE h.user_id = p_user_id FOR UPDATE;
    END IF;
    v_seq := v_seq + 1;
    IF p_record_id IS NOT NULL THEN
        v_key_hash := sha256(convert_to(p_record_id::text, 'UTF8'));
    END IF;
    IF p_operation IN ('INSERT', 'UPDATE', 'BASELINE') THEN
        v_row_hash := sha256(convert_to(v_new_text, 'UTF8'));
    END IF;
    v_payload := sha256(convert_to(
        audit_field(p_record_id::text) || audit_field(p_old_values::text) || audit_field(v_new_text)
        || audit_field(p_ip_address::text) || audit_field(p_user_agent), 'UTF8'));
    v_hash := sha256(convert_to(
        'agentkeep-audit-v1'
        || audit_field(p_user_id::text) || audit_field(v_seq::text) || audit_field(v_id::text)
        || audit_field(((extract(epoch FROM v_at) * 1000000)::bigint)::text)
        || audit_field(p_table_name) || audit_field(encode(v_key_hash, 'hex'))
        || audit_field(p_operation) || audit_field(v_actor) || audit_field(v_acting::text)
        || audit_field(v_correlation) || audit_field(p_action_type) || audit_field(p_risk_level)
        || audit_field(p_agent_id::text) || audit_field(p_session_id::text)
        || audit_field(encode(v_payload, 'hex')) || audit_field(encode(v_row_hash, 'hex'))
        || audit_field(encode(v_prev, 'hex')), 'UTF8'));
    INSERT INTO audit_log (
        user_id, seq, id, occurred_at, table_name, record_id, record_key_hash, operation, actor,
        acting_user_id, correlation_id, old_values, new_values, action_type, risk_level, agent_id,
        session_id, ip_address, user_agent, payload_hash, row_hash, prev_hash, entry_hash
    ) VALUES (
        p_user_id, v_seq, v_id, v_at, p_table_name, p_record_id, v_key_hash, p_operation, v_actor,
        v_acting, v_correlation, p_old_values, p_new_values, p_action_type, p_risk_level, p_agent_id,
        p_session_id, p_ip_address, p_user_agent, v_payload, v_row_hash, v_prev, v_hash
    );
    UPDATE audit_chain_heads SET seq = v_seq, hash = v_hash WHERE user_id = p_user_id;
    RETURN v_id;
END
$$
""",
    # TG_ARGV: the table (on a Citus worker TG_TABLE_NAME is a shard's), the chain ('user' or
    # 'operator'), then the key columns. audit_append's work written out for a row (same
    # encoding): one PL/pgSQL call per row instead of two SECURITY DEFINER calls, each jsonb
    # turned into text once, the fields a row change never has written as their NULL '-'.
    "audit_row()": """
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_old jsonb;
    v_new jsonb;
    v_row jsonb;
    v_key jsonb := '{}';
    v_user uuid;
    v_id          uuid := audit_new_id();
    v_at          timestamptz := clock_timestamp();
    v_principal   text := nullif(current_setting('agentkeep.principal', true), '');
    v_acting      uuid := nullif(current_setting('agentkeep.user_id', true), '')::uuid;
    v_correlation text := nullif(current_setting('agentkeep.correlation_id', true), '');
    v_actor       text;
    v_seq         bigint;
    v_prev        bytea;
    v_key_text    text;
    v_key_hash    bytea;
    v_payload     bytea;
    v_row_hash    bytea;
    v_hash        bytea;
    v_new_text    text;
BEGIN
    IF TG_OP <> 'INSERT' THEN v_old := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN v_new := to_jsonb(NEW); v_new_text := v_new::text; END IF;
    v_row := coalesce(v_new, v_old);
    FOR i IN 2 .. TG_NARGS - 1 LOOP
        v_key := v_key || jsonb_build_object(TG_ARGV[i], v_row -> TG_ARGV[i]);
    END LOOP;
    v_key_text := v_key::text;
    v_user := CASE WHEN TG_ARGV[1] = 'user' THEN (v_row ->> 'user_id')::uuid ELSE '00000000-0000-0000-0000-000000000000'::uuid END;
    v_actor := coalesce(v_principal, CASE WHEN v_acting IS NULL THEN 'owner' ELSE 'user' END);
    -- The head row serialises the writers of this chain only.
    SELECT h.seq, h.hash INTO v_seq, v_prev FROM audit_chain_heads AS h WHERE h.user_id = v_user FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_chain_heads (user_id, seq, hash) VALUES (v_user, 0, decode(repeat('00', 32), 'hex'))
            ON CONFLICT (user_id) DO NOTHING;
        SELECT h.seq, h.hash INTO v_seq, v_prev FROM audit_chain_heads AS h WHERE h.user_id = v_user FOR UPDATE;
    END IF;
    v_seq := v_seq + 1;
    v_key_hash := sha256(convert_to(v_key_text, 'UTF8'));
    IF TG_OP <> 'DELETE' THEN v_row_hash := sha256(convert_to(v_new_text, 'UTF8')); END IF;
    v_payload := sha256(convert_to(
        audit_field(v_key_text) || audit_field(v_old::text) || audit_field(v_new_text) || '--', 'UTF8'));  -- no ip, user agent
    v_hash := sha256(convert_to(
        'agentkeep-audit-v1'
        || audit_field(v_user::text) || audit_field(v_seq::text) || audit_field(v_id::text)
        || audit_field(((extract(epoch FROM v_at) * 1000000)::bigint)::text)
        || audit_field(TG_ARGV[0]) || audit_field(encode(v_key_hash, 'hex'))
        || audit_field(TG_OP) || audit_field(v_actor) || audit_field(v_acting::text)
        || audit_field(v_correlation) || '----'  -- action_type, risk_level, agent_id, session_id
        || audit_field(encode(v_payload, 'hex')) || audit_field(encode(v_row_hash, 'hex'))
        || audit_field(encode(v_prev, 'hex')), 'UTF8'));
    INSERT INTO audit_log (
        user_id, seq, id, occurred_at, table_name, record_id, record_key_hash, operation, actor,
        acting_user_id, correlation_id, old_values, new_values, payload_hash, row_hash, prev_hash, entry_hash
    ) VALUES (
        v_user, v_seq, v_id, v_at, TG_ARGV[0], v_key, v_key_hash, TG_OP, v_actor,
        v_acting, v_correlation, v_old, v_new, v_payload, v_row_hash, v_prev, v_hash
    );
    UPDATE audit_chain_heads SET seq = v_seq, hash = v_hash WHERE user_id = v_user;
    RETURN NULL;
END
$$
""",
    "audit_record_action(uuid,text,jsonb,text,uuid,uuid,inet,text)": f"""
CREATE FUNCTION audit_record_action(
    p_user_id uuid, p_action_type text, p_details jsonb, p_risk_level text DEFAULT NULL,
    p_agent_id uuid DEFAULT NULL, p_session_id uuid DEFAULT NULL, p_ip_address inet DEFAULT NULL,
    p_user_agent text DEFAULT NULL
) RETURNS uuid LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_acting uuid := nullif(current_setting('agentkeep.user_id', true), '')::uuid;
    v_principal text := coalesce(current_setting('agentkeep.principal', true), '');
BEGIN
    -- The application role may write actions into its acting user's chain only; the operator
    -- chain takes actions of the owner and of service principals.
    IF session_user <> current_user AND v_principal NOT IN ('service', 'operator')
       AND p_user_id IS DISTINCT FROM v_acting THEN
        RAISE EXCEPTION 'audit_record_action: may only record actions of the acting user'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_action_type IS NULL OR p_details IS NULL THEN
        RAISE EXCEPTION 'audit_record_action: action_type and details are required'
            USING ERRCODE = 'not_null_violation';
    END IF;
    RETURN audit_append(coalesce(p_user_id, '{NIL_UUID}'::uuid), NULL, NULL, 'ACTION', NULL, p_details,
                        p_action_type, p_risk_level, p_agent_id, p_session_id, p_ip_address, p_user_agent);
END
$$
""",
    # The one change allowed on an entry: its payload removed (redaction), nothing else.
    "audit_log_guard()": """
CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_payload text[] := ARRAY['record_id', 'old_values', 'new_values', 'ip_address', 'user_agent', 'redacted_at'];
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
       AND NEW.record_id IS NULL AND NEW.old_values IS NULL AND NEW.new_values IS NULL
       AND NEW.ip_address IS NULL AND NEW.user_agent IS NULL
       AND (to_jsonb(NEW) - v_payload) = (to_jsonb(OLD) - v_payload) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
""",
    # Redaction (right to erasure): a user's payloads go, the chain's hashes stay.
    "audit_redact(uuid)": """
CREATE FUNCTION audit_redact(p_user_id uuid) RETURNS bigint LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_count bigint;
    -- A value, not clock_timestamp() in the UPDATE: Citus refuses VOLATILE functions there.
    v_now timestamptz := clock_timestamp();
BEGIN
    UPDATE audit_log SET record_id = NULL, old_values = NULL, new_values = NULL, ip_address = NULL,
                         user_agent = NULL, redacted_at = v_now
     WHERE user_id = p_user_id AND redacted_at IS NULL;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM audit_append('00000000-0000-0000-0000-000000000000'::uuid, NULL, NULL, 'ACTION', NULL,
                         jsonb_build_object('user_id', p_user_id, 'entries', v_count),
                         'REDACT', 'high', NULL, NULL, NULL, NULL);
    RETURN v_count;
END
$$
""",
    # Existing rows at upgrade time: one BASELINE entry each (identifiers come from this module).
    "audit_baseline(text,text,text[])": """
CREATE FUNCTION audit_baseline(p_table text, p_chain text, p_key text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_row jsonb;
    v_key jsonb;
    v_column text;
BEGIN
    FOR v_row IN EXECUTE format('SELECT to_jsonb(t) FROM %I AS t ORDER BY %s', p_table,
                                (SELECT string_agg(quote_ident(c), ', ') FROM unnest(p_key) AS c)) LOOP
        v_key := '{}';
        FOREACH v_column IN ARRAY p_key LOOP
            v_key := v_key || jsonb_build_object(v_column, v_row -> v_column);
        END LOOP;
        PERFORM audit_append(
            CASE WHEN p_chain = 'user' THEN (v_row ->> 'user_id')::uuid
                 ELSE '00000000-0000-0000-0000-000000000000'::uuid END,
            p_table, v_key, 'BASELINE', NULL, v_row, NULL, NULL, NULL, NULL, NULL, NULL);
    END LOOP;
END
$$
""",
}


GUARD_TRUNCATE = """
CREATE FUNCTION audit_log_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: TRUNCATE refused' USING ERRCODE = 'insufficient_privilege';
END
$$
"""

DEVASSIST_AUDIT_LOG = """
CREATE VIEW devassist.audit_log WITH (security_invoker = true) AS
SELECT a.id AS audit_id,
       a.table_name,
       coalesce(a.record_id ->> 'id', a.record_id ->> 'user_id', a.record_id::text) AS record_id,
       a.operation,
       a.old_values,
       a.new_values,
       coalesce(a.acting_user_id::text, a.actor) AS changed_by,
       a.occurred_at AS changed_at,
       a.correlation_id
  FROM public.audit_log AS a
 WHERE a.operation IN ('INSERT', 'UPDATE', 'DELETE')
"""

AGENTIC_AGENT_AUDIT_LOG = """
CREATE VIEW agentic.agent_audit_log WITH (security_invoker = true) AS
SELECT a.id AS audit_id,
       a.agent_id,
       a.session_id,
       a.action_type,
       a.new_values AS action_details,
       a.risk_level,
       a.user_id,
       a.occurred_at AS "timestamp",
       a.ip_address,
       a.user_agent
  FROM public.audit_log AS a
 WHERE a.operation = 'ACTION'
"""

AGENTIC_INSERT = """
CREATE FUNCTION agentic.agent_audit_log_insert() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog AS $$
BEGIN
    NEW.audit_id := public.audit_record_action(
        coalesce(NEW.user_id, nullif(current_setting('agentkeep.user_id', true), '')::uuid),
        NEW.action_type, NEW.action_details, NEW.risk_level, NEW.agent_id, NEW.session_id,
        NEW.ip_address, NEW.user_agent);
    RETURN NEW;
END
$$
"""


def _create_tables() -> None:
    ddl.create_table(
        "audit_log",
        sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("table_name", sa.String(100)),
        sa.Column("record_id", pg.JSONB),
        sa.Column("record_key_hash", sa.LargeBinary),
        sa.Column("operation", sa.String(10), nullable=False),
        sa.Column("actor", sa.String(20), nullable=False),
        sa.Column("acting_user_id", pg.UUID(as_uuid=True)),
        sa.Column("correlation_id", sa.String(128)),
        sa.Column("old_values", pg.JSONB),
        sa.Column("new_values", pg.JSONB),
        sa.Column("action_type", sa.String(50)),
        sa.Column("risk_level", sa.String(20)),
        sa.Column("agent_id", pg.UUID(as_uuid=True)),
        sa.Column("session_id", pg.UUID(as_uuid=True)),
        sa.Column("ip_address", pg.INET),
        sa.Column("user_agent", sa.Text),
        sa.Column("payload_hash", sa.LargeBinary, nullable=False),
        sa.Column("row_hash", sa.LargeBinary),
        sa.Column("prev_hash", sa.LargeBinary, nullable=False),
        sa.Column("entry_hash", sa.LargeBinary, nullable=False),
        sa.Column("redacted_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "operation IN ('INSERT', 'UPDATE', 'DELETE', 'BASELINE', 'ACTION')",
            name=op.f("ck_audit_log_operation_valid"),
        ),
        sa.CheckConstraint("seq > 0", name=op.f("ck_audit_log_seq_positive")),
        sa.PrimaryKeyConstraint("user_id", "seq", name="pk_audit_log"),
        tenancy="user",
    )
    op.create_index(
        "ix_audit_log_risk_level",
        "audit_log",
        ["risk_level"],
        postgresql_where=sa.text("risk_level IS NOT NULL"),
    )
    ddl.create_table(
        "audit_chain_heads",
        sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_audit_chain_heads"),
        tenancy="user",
    )
    for table in ("audit_log", "audit_chain_heads"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        # Users read their own trail; the owner (who runs the SECURITY DEFINER writers) writes,
        # and reads every chain acting as operator. The guard trigger still stops the owner.
        op.execute(
            f"CREATE POLICY {table}_tenant ON {table} FOR SELECT TO {APP_ROLE} "
            f"USING (user_id = {ddl.ACTING_USER_ID})"
        )
        op.execute(
            f"CREATE POLICY {table}_operator_read ON {table} FOR SELECT TO CURRENT_USER USING ({IS_OPERATOR})"
        )
        op.execute(
            f"CREATE POLICY {table}_writer ON {table} FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true)"
        )
        op.execute(f"GRANT SELECT ON {table} TO {APP_ROLE}")


def _create_functions() -> None:
    for body in FUNCTIONS.values():
        op.execute(body)
    op.execute(GUARD_TRUNCATE)
    for signature in FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(
        f"GRANT EXECUTE ON FUNCTION audit_record_action(uuid,text,jsonb,text,uuid,uuid,inet,text) TO {APP_ROLE}"
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_guard()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_no_truncate()"
    )


def _create_citus_functions() -> None:
    for body in CITUS_FUNCTIONS.values():
        op.execute(body)
    for signature in CITUS_FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    for table in _reference_tables_with_updated_at():
        op.execute(f"DROP TRIGGER trg_{table}_updated_at ON {table}")
        op.execute(
            f"CREATE TRIGGER trg_{table}_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION agentkeep_set_updated_at_citus()"
        )


def _reference_tables_with_updated_at() -> list[str]:
    operator_tables = [table for table, (chain, _key) in AUDITED.items() if chain == "operator"]
    rows = op.get_bind().execute(sa.text(CITUS_UPDATED_AT_TRIGGERS), {"tables": operator_tables})
    return [row[0] for row in rows]


def _drop_citus_functions() -> None:
    for table in _reference_tables_with_updated_at():
        op.execute(f"DROP TRIGGER trg_{table}_updated_at ON {table}")
        op.execute(
            f"CREATE TRIGGER trg_{table}_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION agentkeep_set_updated_at()"
        )
    for signature in CITUS_FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")


def _audit_tables() -> None:
    citus = ddl.citus_installed()
    if citus:
        _create_citus_functions()
    op.execute("SET LOCAL agentkeep.principal = 'operator'")
    for table, (chain, key) in AUDITED.items():
        if citus and table in HANDLE_TABLES:
            continue
        op.get_bind().execute(
            sa.text("SELECT audit_baseline(:table, :chain, :key)"),
            {"table": table, "chain": chain, "key": list(key)},
        )
        arguments = ", ".join(f"'{name}'" for name in (table, chain, *key))
        op.execute(
            f"CREATE TRIGGER audit_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {ddl.audit_row_function()}({arguments})"
        )
    op.execute("SET LOCAL agentkeep.principal = ''")


def upgrade() -> None:
    if ddl.citus_installed():
        op.execute("SET LOCAL citus.enable_unsafe_triggers = on")
        op.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")
    _create_tables()
    _create_functions()
    for table in FORCED_USER_TABLES:
        op.execute(
            f"CREATE POLICY {table}_operator_read ON {table} FOR SELECT TO CURRENT_USER USING ({IS_OPERATOR})"
        )
    _audit_tables()
    op.execute(DEVASSIST_AUDIT_LOG)
    op.execute(AGENTIC_AGENT_AUDIT_LOG)
    op.execute(AGENTIC_INSERT)
    op.execute(
        "CREATE TRIGGER agent_audit_log_insert INSTEAD OF INSERT ON agentic.agent_audit_log "
        "FOR EACH ROW EXECUTE FUNCTION agentic.agent_audit_log_insert()"
    )
    for schema, view in COMPAT_VIEWS:
        op.execute(f"GRANT SELECT ON {schema}.{view} TO {APP_ROLE}")
    for schema, view in INSERTABLE_VIEWS:
        op.execute(f"GRANT INSERT ON {schema}.{view} TO {APP_ROLE}")
    op.execute("REVOKE ALL ON FUNCTION agentic.agent_audit_log_insert() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION agentic.agent_audit_log_insert() TO {APP_ROLE}")


def downgrade() -> None:
    if ddl.citus_installed():
        op.execute("SET LOCAL citus.enable_unsafe_triggers = on")
        op.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")
    op.execute("DROP VIEW agentic.agent_audit_log")
    op.execute("DROP FUNCTION agentic.agent_audit_log_insert()")
    op.execute("DROP VIEW devassist.audit_log")
    for table in reversed(AUDITED):
        op.execute(f"DROP TRIGGER IF EXISTS audit_{table} ON {table}")
    for table in FORCED_USER_TABLES:
        op.execute(f"DROP POLICY {table}_operator_read ON {table}")
    if ddl.citus_installed():
        _drop_citus_functions()
    op.drop_table("audit_chain_heads")
    op.drop_table("audit_log")
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
    op.execute("DROP FUNCTION audit_log_no_truncate()")

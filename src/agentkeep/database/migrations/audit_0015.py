"""Revision 0015's SQL: inserts audited once per statement (docs/audit.md, "How entries are
written"). Frozen with the revision: a later change goes in a new revision, never here (like
audit_citus_0005.py for revision 0005).

Each audited table gets two triggers:

- ``audit_<table>_insert``: AFTER INSERT … REFERENCING NEW TABLE … FOR EACH STATEMENT, running
  ``audit_insert_statement()``. One read of the transition table (the rows as jsonb, ordered by
  chain, then in the order the statement inserted them), one lock per chain touched (in user_id
  order), a PL/pgSQL loop of expressions for the hashes, one head update per chain and ONE insert
  of every entry: a batch of 50 costs three statements instead of 150.
- ``audit_<table>``: revision 0005's row trigger (``audit_row``), now for UPDATE and DELETE only.
  Measured (docs/benchmarks.md): a statement trigger costs more than a row trigger for a
  statement that changes one row (reading the transition table is a query of its own) and for
  one that changes none (it fires anyway: the SDK's append updates the conversation's token count
  in a CTE that usually changes nothing), and updates and deletes are one row at a time on the
  hot paths.

Both write the same columns and hashes (docs/audit.md, "Canonical encoding"): verification does
not know which trigger wrote an entry.
"""

from __future__ import annotations

NIL_UUID = "00000000-0000-0000-0000-000000000000"
STATEMENT_FUNCTION = "audit_insert_statement"

# The header's fields written out: a uuid's text is always 36 bytes and a SHA-256 in hex 64, so
# their length prefixes are constants; the fields that are the same for every entry of the
# statement (table, operation, actor, acting user, correlation id) are laid out once. Same bytes
# as 0005's audit_field() chain. plan_cache_mode: the statements take PL/pgSQL variables as
# parameters, and a custom plan was made for them on every call (half the cost of one row).
AUDIT_INSERT_STATEMENT = f"""
CREATE FUNCTION {STATEMENT_FUNCTION}() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, public SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_principal   text := nullif(current_setting('agentkeep.principal', true), '');
    v_acting      uuid := nullif(current_setting('agentkeep.user_id', true), '')::uuid;
    v_correlation text := nullif(current_setting('agentkeep.correlation_id', true), '');
    v_operator    boolean := TG_ARGV[1] <> 'user';
    v_key_columns text[] := TG_ARGV[2:TG_NARGS - 1];
    v_actor       text;
    v_table       text;  -- the header's table field
    v_middle      text;  -- the header's fields from the operation to the session id
    -- One element per row inserted, in chain order.
    v_news jsonb[]; v_chains uuid[];
    v_seqs bigint[]; v_ids uuid[]; v_ats timestamptz[]; v_keys jsonb[]; v_key_hashes bytea[];
    v_payloads bytea[]; v_row_hashes bytea[]; v_prevs bytea[]; v_hashes bytea[];
    v_user uuid; v_seq bigint; v_prev bytea; v_start text;
    v_key jsonb; v_key_text text; v_new_text text; v_column text; v_micros text;
    v_id uuid; v_at timestamptz; v_key_hash bytea; v_row_hash bytea; v_payload bytea;
BEGIN
    IF TG_OP <> 'INSERT' OR TG_LEVEL <> 'STATEMENT' THEN
        RAISE EXCEPTION '{STATEMENT_FUNCTION}() is for AFTER INSERT … FOR EACH STATEMENT triggers';
    END IF;
    -- The rows as jsonb and their chains, in the order the statement inserted them: one simple
    -- query (no sort) for the common case, a statement within one chain.
    IF v_operator THEN
        SELECT array_agg(to_jsonb(t)) INTO v_news FROM audit_new AS t;
        IF v_news IS NULL THEN
            RETURN NULL;  -- the statement inserted no row
        END IF;
        v_chains := array_fill('{NIL_UUID}'::uuid, ARRAY[cardinality(v_news)]);
    ELSE
        SELECT array_agg(to_jsonb(t)), array_agg(t.user_id) INTO v_news, v_chains FROM audit_new AS t;
        IF v_chains[1] <> ANY (v_chains[2:]) THEN
            -- Several chains: the rows of each together, the chains in user_id order (so their
            -- heads are locked in that order and two statements cannot deadlock on them), each
            -- chain's rows still in insertion order.
            SELECT array_agg(r.n ORDER BY r.chain, r.ord), array_agg(r.chain ORDER BY r.chain, r.ord)
              INTO v_news, v_chains
              FROM (SELECT row_number() OVER () AS ord, to_jsonb(t) AS n, t.user_id AS chain
                      FROM audit_new AS t) AS r;
        END IF;
    END IF;
    IF v_chains IS NULL THEN
        RETURN NULL;  -- the statement inserted no row
    END IF;
    v_actor := coalesce(v_principal, CASE WHEN v_acting IS NULL THEN 'owner' ELSE 'user' END);
    v_table := audit_field(TG_ARGV[0]);
    v_middle := '6:INSERT' || audit_field(v_actor) || audit_field(v_acting::text)
                || audit_field(v_correlation) || '----';  -- action_type, risk_level, agent_id, session_id
    FOR i IN 1 .. cardinality(v_chains) LOOP
        IF i = 1 OR v_chains[i] <> v_chains[i - 1] THEN
            IF i > 1 THEN
                UPDATE audit_chain_heads SET seq = v_seq, hash = v_prev WHERE user_id = v_user;
            END IF;
            v_user := v_chains[i];
            -- The head row serialises the writers of this chain only.
            SELECT h.seq, h.hash INTO v_seq, v_prev FROM audit_chain_heads AS h
             WHERE h.user_id = v_user FOR UPDATE;
            IF NOT FOUND THEN
                INSERT INTO audit_chain_heads (user_id, seq, hash)
                     VALUES (v_user, 0, decode(repeat('00', 32), 'hex'))
                    ON CONFLICT (user_id) DO NOTHING;
                SELECT h.seq, h.hash INTO v_seq, v_prev FROM audit_chain_heads AS h
                 WHERE h.user_id = v_user FOR UPDATE;
            END IF;
            v_start := 'agentkeep-audit-v1' || '36:' || v_user;
        END IF;
        v_key := '{{}}';
        FOREACH v_column IN ARRAY v_key_columns LOOP
            v_key := v_key || jsonb_build_object(v_column, v_news[i] -> v_column);
        END LOOP;
        v_key_text := v_key::text;
        v_new_text := v_news[i]::text;
        v_key_hash := sha256(convert_to(v_key_text, 'UTF8'));
        v_row_hash := sha256(convert_to(v_new_text, 'UTF8'));
        -- record_id, old_values (none), new_values, then no ip address and no user agent
        v_payload := sha256(convert_to(audit_field(v_key_text) || '-' || audit_field(v_new_text) || '--',
                                       'UTF8'));
        v_id := audit_new_id();
        v_at := clock_timestamp();
        v_micros := ((extract(epoch FROM v_at) * 1000000)::bigint)::text;
        v_seq := v_seq + 1;
        v_seqs[i] := v_seq; v_ids[i] := v_id; v_ats[i] := v_at; v_keys[i] := v_key;
        v_key_hashes[i] := v_key_hash; v_payloads[i] := v_payload; v_row_hashes[i] := v_row_hash;
        v_prevs[i] := v_prev;
        v_prev := sha256(convert_to(
            v_start || length(v_seq::text) || ':' || v_seq || '36:' || v_id
            || length(v_micros) || ':' || v_micros || v_table || '64:' || encode(v_key_hash, 'hex')
            || v_middle || '64:' || encode(v_payload, 'hex') || '64:' || encode(v_row_hash, 'hex')
            || '64:' || encode(v_prevs[i], 'hex'), 'UTF8'));
        v_hashes[i] := v_prev;
    END LOOP;
    -- The last chain's head moves in the same statement as the entries are written.
    IF cardinality(v_chains) = 1 THEN  -- one row: a plain VALUES insert is the cheaper plan
        WITH head AS (UPDATE audit_chain_heads SET seq = v_seq, hash = v_prev WHERE user_id = v_user)
        INSERT INTO audit_log (
            user_id, seq, id, occurred_at, table_name, record_id, record_key_hash, operation, actor,
            acting_user_id, correlation_id, new_values, payload_hash, row_hash, prev_hash, entry_hash
        ) VALUES (
            v_user, v_seq, v_id, v_at, TG_ARGV[0], v_key, v_key_hash, 'INSERT', v_actor,
            v_acting, v_correlation, v_news[1], v_payload, v_row_hash, v_prevs[1], v_prev
        );
    ELSE
        WITH head AS (UPDATE audit_chain_heads SET seq = v_seq, hash = v_prev WHERE user_id = v_user)
        INSERT INTO audit_log (
            user_id, seq, id, occurred_at, table_name, record_id, record_key_hash, operation, actor,
            acting_user_id, correlation_id, new_values, payload_hash, row_hash, prev_hash, entry_hash
        )
        SELECT x.user_id, x.seq, x.id, x.at, TG_ARGV[0], x.key, x.key_hash, 'INSERT', v_actor,
               v_acting, v_correlation, x.n, x.payload, x.row_hash, x.prev, x.hash
          FROM unnest(v_chains, v_seqs, v_ids, v_ats, v_keys, v_key_hashes, v_news, v_payloads,
                      v_row_hashes, v_prevs, v_hashes)
               AS x(user_id, seq, id, at, key, key_hash, n, payload, row_hash, prev, hash);
    END IF;
    RETURN NULL;
END
$$
"""  # noqa: S608 - this module's constants

# Revision 0005's row trigger, for updates and deletes from here on, with the header written out
# as in audit_insert_statement() (same bytes) and the head moved in the statement that writes the
# entry: two statements a row instead of three.
AUDIT_ROW = """
CREATE OR REPLACE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql
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
    v_micros      text;
BEGIN
    IF TG_OP <> 'INSERT' THEN v_old := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN v_new := to_jsonb(NEW); v_new_text := v_new::text; END IF;
    v_row := coalesce(v_new, v_old);
    FOR i IN 2 .. TG_NARGS - 1 LOOP
        v_key := v_key || jsonb_build_object(TG_ARGV[i], v_row -> TG_ARGV[i]);
    END LOOP;
    v_key_text := v_key::text;
    v_user := CASE WHEN TG_ARGV[1] = 'user' THEN (v_row ->> 'user_id')::uuid
                   ELSE '00000000-0000-0000-0000-000000000000'::uuid END;
    v_actor := coalesce(v_principal, CASE WHEN v_acting IS NULL THEN 'owner' ELSE 'user' END);
    -- The head row serialises the writers of this chain only.
    SELECT h.seq, h.hash INTO v_seq, v_prev FROM audit_chain_heads AS h
     WHERE h.user_id = v_user FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_chain_heads (user_id, seq, hash)
             VALUES (v_user, 0, decode(repeat('00', 32), 'hex'))
            ON CONFLICT (user_id) DO NOTHING;
        SELECT h.seq, h.hash INTO v_seq, v_prev FROM audit_chain_heads AS h
         WHERE h.user_id = v_user FOR UPDATE;
    END IF;
    v_seq := v_seq + 1;
    v_key_hash := sha256(convert_to(v_key_text, 'UTF8'));
    v_row_hash := sha256(convert_to(v_new_text, 'UTF8'));
    v_payload := sha256(convert_to(
        -- record_id, old_values, new_values, then no ip address and no user agent
        audit_field(v_key_text) || audit_field(v_old::text) || audit_field(v_new_text) || '--', 'UTF8'));
    v_micros := ((extract(epoch FROM v_at) * 1000000)::bigint)::text;
    v_hash := sha256(convert_to(
        'agentkeep-audit-v1' || '36:' || v_user || length(v_seq::text) || ':' || v_seq || '36:' || v_id
        || length(v_micros) || ':' || v_micros || audit_field(TG_ARGV[0])
        || '64:' || encode(v_key_hash, 'hex')
        || audit_field(TG_OP) || audit_field(v_actor) || audit_field(v_acting::text)
        || audit_field(v_correlation) || '----'
        || '64:' || encode(v_payload, 'hex')
        || CASE WHEN v_row_hash IS NULL THEN '-' ELSE '64:' || encode(v_row_hash, 'hex') END
        || '64:' || encode(v_prev, 'hex'), 'UTF8'));
    -- The head moves in the same statement as the entry is written.
    WITH head AS (UPDATE audit_chain_heads SET seq = v_seq, hash = v_hash WHERE user_id = v_user)
    INSERT INTO audit_log (
        user_id, seq, id, occurred_at, table_name, record_id, record_key_hash, operation, actor,
        acting_user_id, correlation_id, old_values, new_values, payload_hash, row_hash, prev_hash,
        entry_hash
    ) VALUES (
        v_user, v_seq, v_id, v_at, TG_ARGV[0], v_key, v_key_hash, TG_OP, v_actor,
        v_acting, v_correlation, v_old, v_new, v_payload, v_row_hash, v_prev, v_hash
    );
    RETURN NULL;
END
$$
"""
# What downgrading restores: revision 0005's audit_row(), as that revision made it.
AUDIT_ROW_0005 = """
CREATE OR REPLACE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql
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
"""  # noqa: E501 - revision 0005's text as it was


# The audit triggers of each audited table (tables made by later revisions included), from the
# catalog: the row triggers running revision 0005's audit_row(), with their arguments (table,
# chain, key columns). A partition's clone of its parent's trigger is left to the parent. By
# name, not 'audit_row()'::regprocedure: that constant becomes an OID when the statement is
# prepared, and a cached statement would miss the function re-created by a later down and up.
ROW_TRIGGERS = """
SELECT t.tgrelid::regclass::text AS table_name, t.tgname,
       (string_to_array(encode(t.tgargs, 'escape'), '\\000'))[1:t.tgnargs] AS arguments
  FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid
 WHERE p.proname = 'audit_row'
   AND p.pronamespace = (SELECT n.oid FROM pg_namespace AS n WHERE n.nspname = 'public')
   AND t.tgparentid = 0 AND NOT t.tgisinternal
 ORDER BY 1
"""
STATEMENT_TRIGGERS = f"""
SELECT t.tgrelid::regclass::text AS table_name, t.tgname,
       (string_to_array(encode(t.tgargs, 'escape'), '\\000'))[1:t.tgnargs] AS arguments
  FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid
 WHERE p.proname = '{STATEMENT_FUNCTION}'
   AND p.pronamespace = (SELECT n.oid FROM pg_namespace AS n WHERE n.nspname = 'public')
   AND NOT t.tgisinternal
 ORDER BY 1
"""  # noqa: S608 - this module's constants


def triggers(table: str, arguments: str) -> list[str]:
    """This revision's audit triggers of ``table`` (identifiers and arguments checked by the caller)."""
    return [
        f"CREATE TRIGGER audit_{table} AFTER UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION audit_row({arguments})",
        f"CREATE TRIGGER audit_{table}_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS audit_new "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {STATEMENT_FUNCTION}({arguments})",
    ]


def triggers_0005(table: str, arguments: str) -> list[str]:
    """Revision 0005's audit trigger of ``table``: one row trigger for every change."""
    return [
        f"CREATE TRIGGER audit_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION audit_row({arguments})"
    ]

"""Revision 0005's SQL for Citus (the audit triggers that write the co-located audit shards), kept
apart so the revision stays readable. Frozen with the revision: a later change goes in a new
revision, never here (like ddl_0001.py for revision 0001).
"""

from __future__ import annotations

NIL_UUID = "00000000-0000-0000-0000-000000000000"

# Citus: the row triggers run on the workers, on a shard of the audited table, inside the
# coordinator's distributed transaction. From there a write through the distributed audit_log is
# refused ("the backend has already been assigned a transaction id"), so these write the
# co-located shards of audit_log and audit_chain_heads, which are on the same worker as the
# user's rows, directly. Same columns, same hashes as audit_append: verification is identical.
# Separate functions so the plain path (audit_row/audit_append) can change on its own; the
# header encoding lives in both and docs/audit.md is what they must agree with.
CITUS_FUNCTIONS = {
    "audit_shard_of(regclass,uuid)": """
CREATE FUNCTION audit_shard_of(p_table regclass, p_user_id uuid) RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, public AS $$
SELECT p_table::text || '_' || get_shard_id_for_distribution_column(p_table, p_user_id)::text
$$
""",
    # True on the one node that holds the operator chain's audit shard: a reference table's
    # trigger fires on every placement (the coordinator's and each worker's), and only this
    # placement's firing may write, so each change gives exactly one entry.
    "audit_operator_chain_is_local()": """
CREATE FUNCTION audit_operator_chain_is_local() RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, public AS $$
SELECT EXISTS (
    SELECT FROM pg_dist_placement AS p
     WHERE p.shardid = get_shard_id_for_distribution_column('public.audit_log',
                                                     '00000000-0000-0000-0000-000000000000'::uuid)
       AND p.groupid = (SELECT g.groupid FROM pg_dist_local_group AS g))
$$
""",
    "audit_append_shard(uuid,text,jsonb,text,jsonb,jsonb)": """
CREATE FUNCTION audit_append_shard(
    p_user_id uuid, p_table_name text, p_record_id jsonb, p_operation text,
    p_old_values jsonb, p_new_values jsonb
) RETURNS uuid LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_log         text := audit_shard_of('public.audit_log', p_user_id);
    v_heads       text := audit_shard_of('public.audit_chain_heads', p_user_id);
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
    -- The head row serialises the writers of this chain only (as in audit_append).
    EXECUTE format('SELECT h.seq, h.hash FROM %I AS h WHERE h.user_id = $1 FOR UPDATE', v_heads)
        INTO v_seq, v_prev USING p_user_id;
    IF v_seq IS NULL THEN
        EXECUTE format(
            'INSERT INTO %I (user_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (user_id) DO NOTHING',
            v_heads) USING p_user_id, decode(repeat('00', 32), 'hex');
        EXECUTE format('SELECT h.seq, h.hash FROM %I AS h WHERE h.user_id = $1 FOR UPDATE', v_heads)
            INTO v_seq, v_prev USING p_user_id;
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
        || audit_field(NULL) || audit_field(NULL), 'UTF8'));
    v_hash := sha256(convert_to(
        'agentkeep-audit-v1'
        || audit_field(p_user_id::text) || audit_field(v_seq::text) || audit_field(v_id::text)
        || audit_field(((extract(epoch FROM v_at) * 1000000)::bigint)::text)
        || audit_field(p_table_name) || audit_field(encode(v_key_hash, 'hex'))
        || audit_field(p_operation) || audit_field(v_actor) || audit_field(v_acting::text)
        || audit_field(v_correlation) || audit_field(NULL) || audit_field(NULL)
        || audit_field(NULL) || audit_field(NULL)
        || audit_field(encode(v_payload, 'hex')) || audit_field(encode(v_row_hash, 'hex'))
        || audit_field(encode(v_prev, 'hex')), 'UTF8'));
    EXECUTE format('INSERT INTO %I (
        user_id, seq, id, occurred_at, table_name, record_id, record_key_hash, operation, actor,
        acting_user_id, correlation_id, old_values, new_values, payload_hash, row_hash, prev_hash,
        entry_hash
    ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)', v_log)
    USING p_user_id, v_seq, v_id, v_at, p_table_name, p_record_id, v_key_hash, p_operation, v_actor,
          v_acting, v_correlation, p_old_values, p_new_values, v_payload, v_row_hash, v_prev, v_hash;
    EXECUTE format('UPDATE %I SET seq = $2, hash = $3 WHERE user_id = $1', v_heads)
        USING p_user_id, v_seq, v_hash;
    RETURN v_id;
END
$$
""",
    # TG_ARGV as for audit_row. Runs on the worker (or, for a reference table, on every node).
    "audit_row_citus()": f"""
CREATE FUNCTION audit_row_citus() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_old jsonb;
    v_new jsonb;
    v_row jsonb;
    v_key jsonb := '{{}}';
    v_chain uuid := '{NIL_UUID}'::uuid;
BEGIN
    IF TG_ARGV[1] = 'user' THEN
        v_chain := NULL;
    ELSIF NOT audit_operator_chain_is_local() THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN v_old := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN v_new := to_jsonb(NEW); END IF;
    v_row := coalesce(v_new, v_old);
    FOR i IN 2 .. TG_NARGS - 1 LOOP
        v_key := v_key || jsonb_build_object(TG_ARGV[i], v_row -> TG_ARGV[i]);
    END LOOP;
    PERFORM audit_append_shard(coalesce(v_chain, (v_row ->> 'user_id')::uuid), TG_ARGV[0], v_key, TG_OP,
                               v_old, v_new);
    RETURN NULL;
END
$$
""",
    # A reference table's BEFORE UPDATE trigger runs on each placement, where now() is each
    # node's own transaction start: the copies' updated_at differed by milliseconds, so the entry
    # (written from one placement) and the row verification reads (another) disagreed. The
    # distributed transaction's stamp is the coordinator's and the same on every node.
    "agentkeep_set_updated_at_citus()": """
CREATE FUNCTION agentkeep_set_updated_at_citus() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := coalesce((get_current_transaction_id()).transaction_stamp, now());
    RETURN NEW;
END
$$
""",
}
CITUS_UPDATED_AT_TRIGGERS = """
SELECT c.relname FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY(:tables)
   AND t.tgname = 'trg_' || c.relname || '_updated_at'
 ORDER BY c.relname
"""

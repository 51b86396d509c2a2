"""Monthly partitions for revisions from 0006 on (docs/partitions.md): the SQL functions that make
a month's partition, and the rebuild of a plain table into a partitioned one and back.

Identifiers come from revision code, never from input; each is checked before use.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from agentkeep.database.migrations.ddl import (
    _allow_triggers_on_distributed_tables,
    _checked,
    citus_installed,
    distribute_by_user,
)

# ---------------------------------------------------------------------------------------------
# Monthly partitions (issue 8, item 6; docs/partitions.md). A table is rebuilt, not altered:
# PostgreSQL cannot turn a plain table into a partitioned one. Everything the old table had is
# read from the catalogs (so objects a later revision added, e.g. an audit trigger, come along)
# and made again on the new table, after the rows are copied, so row triggers do not fire for
# rows that only moved.
# ---------------------------------------------------------------------------------------------

UUID7_FLOOR = """
CREATE FUNCTION agentkeep_uuid7_floor(moment timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    -- The smallest UUIDv7 of this millisecond: 48-bit Unix milliseconds, version 7, variant 10,
    -- every other bit zero. Every UUIDv7 made at or after it sorts at or after it.
    SELECT (lpad(to_hex(floor(extract(epoch FROM moment) * 1000)::bigint), 12, '0')
            || '70008000000000000000')::uuid
$$"""
UUID7_TIME = """
CREATE FUNCTION agentkeep_uuid7_time(id uuid) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    -- The millisecond a UUIDv7 was made at (its first 48 bits).
    SELECT to_timestamp(('x' || lpad(left(replace(id::text, '-', ''), 12), 16, '0'))::bit(64)::bigint
                        / 1000.0)
$$"""
# Partitions are named <table>_YYYY_MM (001's create_monthly_partition does the same).
CREATE_MONTHLY_PARTITION = """
CREATE FUNCTION create_monthly_partition(table_name text, start_date date) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    parent         regclass := to_regclass(format('public.%I', table_name));
    key_type       regtype;
    month_start    date := date_trunc('month', start_date)::date;
    month_end      date := (date_trunc('month', start_date) + interval '1 month')::date;
    partition_name text := table_name || '_' || to_char(start_date, 'YYYY_MM');
    lower_bound    text;
    upper_bound    text;
BEGIN
    IF parent IS NULL THEN
        RAISE EXCEPTION 'relation "%" does not exist', table_name USING ERRCODE = '42P01';
    END IF;
    SELECT a.atttypid::regtype INTO key_type
    FROM pg_partitioned_table p
    JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
    WHERE p.partrelid = parent AND p.partstrat = 'r' AND p.partnatts = 1;
    IF key_type IS NULL THEN
        RAISE EXCEPTION 'table "%" is not partitioned by a range of one column', table_name
            USING ERRCODE = '22023';
    END IF;
    IF start_date <> month_start THEN
        RAISE EXCEPTION 'start_date % is not the first day of a month', start_date USING ERRCODE = '22023';
    END IF;
    -- Bounds are months in UTC, whatever the session's time zone.
    IF key_type = 'uuid'::regtype THEN
        lower_bound := agentkeep_uuid7_floor(month_start::timestamp AT TIME ZONE 'UTC')::text;
        upper_bound := agentkeep_uuid7_floor(month_end::timestamp AT TIME ZONE 'UTC')::text;
    ELSIF key_type = 'timestamptz'::regtype THEN
        lower_bound := (month_start::timestamp AT TIME ZONE 'UTC')::text;
        upper_bound := (month_end::timestamp AT TIME ZONE 'UTC')::text;
    ELSIF key_type IN ('date'::regtype, 'timestamp'::regtype) THEN
        lower_bound := month_start::text;
        upper_bound := month_end::text;
    ELSE
        RAISE EXCEPTION 'table "%" is partitioned by a % column: only uuid (UUIDv7) and date/time keys are',
            table_name, key_type USING ERRCODE = '22023';
    END IF;
    -- Idempotent: the month's partition may exist already (made by another server or by hand).
    IF EXISTS (SELECT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = parent AND c.relname = partition_name) THEN
        RETURN;
    END IF;
    -- On Citus a partition of a distributed table is distributed at once, shard by shard; in
    -- parallel that would be refused after the same transaction touched a reference table its
    -- foreign keys lead to (a second partition, the vocabulary), so one connection does it all.
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
    EXECUTE format('CREATE TABLE public.%I PARTITION OF public.%I FOR VALUES FROM (%L) TO (%L)',
                   partition_name, table_name, lower_bound, upper_bound);
    PERFORM agentkeep_name_partition_indexes(format('public.%I', partition_name)::regclass);
END
$$"""
# A partition's copy of a key would be named by PostgreSQL for the partition (messages_2026_11_pkey),
# and a violation reports that name. Named <parent index>_YYYY_MM instead, the error translation
# (agentkeep.database.errors) finds the parent's constraint, and so the input field, by the name
# alone, also on Citus, which adds a shard id after it.
NAME_PARTITION_INDEXES = """
CREATE FUNCTION agentkeep_name_partition_indexes(partition regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    parent_table text;
    suffix       text;
    found        record;
    wanted       text;
BEGIN
    SELECT p.relname INTO parent_table
    FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE i.inhrelid = partition;
    suffix := substr((SELECT relname FROM pg_class WHERE oid = partition), length(parent_table) + 1);
    IF parent_table IS NULL OR suffix !~ '^_[0-9]{4}_[0-9]{2}$' THEN
        RETURN;  -- not a monthly partition named <table>_YYYY_MM: left as it is
    END IF;
    FOR found IN
        SELECT child.oid::regclass AS child_index, child.relname AS child_name, parent.relname AS parent_name
        FROM pg_index x
        JOIN pg_inherits i ON i.inhrelid = x.indexrelid
        JOIN pg_class child ON child.oid = x.indexrelid
        JOIN pg_class parent ON parent.oid = i.inhparent
        WHERE x.indrelid = partition
        ORDER BY 3
    LOOP
        -- Cut so that the month stays whole within the 63 characters of a name.
        wanted := left(found.parent_name, 63 - length(suffix)) || suffix;
        IF found.child_name <> wanted THEN
            EXECUTE format('ALTER INDEX %s RENAME TO %I', found.child_index, wanted);
        END IF;
    END LOOP;
END
$$"""

# What a table has that a rebuild must make again, each as (name, the statement that makes it).
_TABLE_OBJECTS = {
    # Keys and foreign keys (check constraints come with CREATE TABLE ... LIKE). Foreign keys
    # last: a self-reference needs the table's unique key first.
    "constraints": """
        SELECT conname, format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
                               pg_get_constraintdef(oid))
        FROM pg_constraint WHERE conrelid = to_regclass(:table) AND contype IN ('p', 'u', 'x', 'f')
          AND conparentid = 0
        ORDER BY contype = 'f', conname""",
    "foreign_keys_in": """
        SELECT format('%s.%I', conrelid::regclass, conname),
               format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
                      pg_get_constraintdef(oid))
        FROM pg_constraint
        WHERE confrelid = to_regclass(:table) AND conrelid <> confrelid AND contype = 'f'
          AND conparentid = 0
        ORDER BY 1""",
    "indexes": """
        SELECT i.indexrelid::regclass::text, replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON ')
        FROM pg_index i
        WHERE i.indrelid = to_regclass(:table)
          AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid
                          AND c.conrelid = i.indrelid)
        ORDER BY 1""",
    "triggers": """
        SELECT tgname, pg_get_triggerdef(oid)
        FROM pg_trigger WHERE tgrelid = to_regclass(:table) AND NOT tgisinternal AND tgparentid = 0
        ORDER BY tgname""",
    # A trigger switched off (or to replica/always) stays so.
    "trigger_states": """
        SELECT tgname, format('ALTER TABLE %s %s TRIGGER %I', tgrelid::regclass,
                              CASE tgenabled WHEN 'D' THEN 'DISABLE' WHEN 'R' THEN 'ENABLE REPLICA'
                                             ELSE 'ENABLE ALWAYS' END, tgname)
        FROM pg_trigger WHERE tgrelid = to_regclass(:table) AND NOT tgisinternal AND tgparentid = 0
          AND tgenabled <> 'O'
        ORDER BY tgname""",
    "policies": """
        SELECT p.polname, format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s',
               p.polname, p.polrelid::regclass,
               CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
               CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                             WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
               (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE r::regrole::text END, ', ')
                FROM unnest(p.polroles) AS r),
               ' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')',
               ' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')')
        FROM pg_policy p WHERE p.polrelid = to_regclass(:table) ORDER BY 1""",
    "security": """
        SELECT 'enable', format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', oid::regclass)
        FROM pg_class WHERE oid = to_regclass(:table) AND relrowsecurity
        UNION ALL
        SELECT 'force', format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', oid::regclass)
        FROM pg_class WHERE oid = to_regclass(:table) AND relforcerowsecurity""",
    "grants": """
        SELECT a.grantee::regrole::text, format('GRANT %s ON %s TO %s%s', a.privilege_type, c.oid::regclass,
               a.grantee::regrole::text, CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = to_regclass(:table) AND a.grantee <> c.relowner AND a.grantee <> 0
        ORDER BY 1, 2""",
    "comments": """
        SELECT 'table', format('COMMENT ON TABLE %s IS %L', oid::regclass, obj_description(oid, 'pg_class'))
        FROM pg_class WHERE oid = to_regclass(:table) AND obj_description(oid, 'pg_class') IS NOT NULL
        UNION ALL
        SELECT conname, format('COMMENT ON CONSTRAINT %I ON %s IS %L', conname, conrelid::regclass,
                               obj_description(oid, 'pg_constraint'))
        FROM pg_constraint
        WHERE conrelid = to_regclass(:table) AND obj_description(oid, 'pg_constraint') IS NOT NULL
        UNION ALL
        SELECT tgname, format('COMMENT ON TRIGGER %I ON %s IS %L', tgname, tgrelid::regclass,
                              obj_description(oid, 'pg_trigger'))
        FROM pg_trigger WHERE tgrelid = to_regclass(:table) AND NOT tgisinternal
          AND obj_description(oid, 'pg_trigger') IS NOT NULL
        UNION ALL
        SELECT polname, format('COMMENT ON POLICY %I ON %s IS %L', polname, polrelid::regclass,
                               obj_description(oid, 'pg_policy'))
        FROM pg_policy WHERE polrelid = to_regclass(:table) AND obj_description(oid, 'pg_policy') IS NOT NULL
        UNION ALL
        SELECT indexrelid::regclass::text, format('COMMENT ON INDEX %s IS %L', indexrelid::regclass,
                                                  obj_description(indexrelid, 'pg_class'))
        FROM pg_index
        WHERE indrelid = to_regclass(:table) AND obj_description(indexrelid, 'pg_class') IS NOT NULL""",
    # Views read the table by its identity, not its name: each is pointed at the new table.
    "views": """
        SELECT DISTINCT v.oid::regclass::text,
               format('CREATE OR REPLACE VIEW %s%s AS %s', v.oid::regclass,
                      ' WITH (' || array_to_string(v.reloptions, ', ') || ')', pg_get_viewdef(v.oid))
        FROM pg_depend d
        JOIN pg_rewrite r ON r.oid = d.objid
        JOIN pg_class v ON v.oid = r.ev_class
        WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = to_regclass(:table) AND v.oid <> d.refobjid
        ORDER BY 1""",
}


def _table_objects(table: str) -> dict[str, list[tuple[str, str]]]:
    bind = op.get_bind()
    return {
        kind: [(row[0], row[1]) for row in bind.execute(sa.text(query), {"table": table})]
        for kind, query in _TABLE_OBJECTS.items()
    }


def _is_distributed(table: str) -> bool:
    if not citus_installed():
        return False
    found = op.get_bind().execute(
        sa.text("SELECT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = to_regclass(:table))"),
        {"table": table},
    )
    return bool(found.scalar())


def _rebuild(table: str, partition_by: str | None) -> None:
    """Make ``table`` again (partitioned by ``partition_by``, or plain), with its rows and objects."""
    table = _checked(table)
    old = _checked(f"{table}_before_rebuild")
    objects = _table_objects(table)
    forced = _forced_neighbours(table, objects)
    distributed = _is_distributed(table)
    _allow_triggers_on_distributed_tables()
    for name, _statement in objects["foreign_keys_in"]:
        referencing, constraint = name.rsplit(".", 1)
        op.execute(f"ALTER TABLE {referencing} DROP CONSTRAINT {constraint}")
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    # The names of its constraints and indexes are free for the new table once these are gone.
    for name, _statement in reversed(objects["constraints"]):
        op.execute(f'ALTER TABLE {old} DROP CONSTRAINT "{name}"')
    for name, _statement in objects["indexes"]:
        op.execute(f"DROP INDEX {name}")
    # The owner is subject to the table's policies (FORCE): lifted on the old table only, inside
    # this transaction, so the copy sees every row.
    op.execute(f"ALTER TABLE {old} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {old} DISABLE ROW LEVEL SECURITY")
    layout = (
        # Check constraints are copied as parsed expressions (re-parsing pg_get_constraintdef's
        # text would change how some of them read back).
        "INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE"
        " INCLUDING COMPRESSION INCLUDING COMMENTS INCLUDING CONSTRAINTS"
    )
    partitioning = f" PARTITION BY RANGE ({_checked(partition_by)})" if partition_by else ""
    op.execute(f"CREATE TABLE {table} (LIKE {old} {layout}){partitioning}")
    if distributed:
        distribute_by_user(table)
    if partition_by:
        _create_partitions_for_rows(table, old, partition_by)
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608 - checked identifiers
    # Validating a foreign key reads the other table as the owner, whom FORCE ROW LEVEL SECURITY
    # would show no rows: lifted on those tables for this transaction only. The rebuilt table
    # gets its own row-level security last, after its keys are validated.
    for neighbour in forced:
        op.execute(f"ALTER TABLE {neighbour} NO FORCE ROW LEVEL SECURITY")
    for kind in ("constraints", "indexes", "triggers", "trigger_states", "policies", "grants", "comments"):
        for _name, statement in objects[kind]:
            op.execute(statement)
    for _name, statement in objects["foreign_keys_in"] + objects["views"] + objects["security"]:
        op.execute(statement)
    for neighbour in forced:
        op.execute(f"ALTER TABLE {neighbour} FORCE ROW LEVEL SECURITY")
    if partition_by:
        name_partition_indexes(table)
    op.execute(f"DROP TABLE {old}")
    if partition_by:
        _analyze_partitions_with_rows(table)
    else:
        op.execute(f"ANALYZE {table}")


def name_partition_indexes(table: str) -> None:
    """Name every partition's copy of ``table``'s indexes and keys ``<parent index>_YYYY_MM``.

    ``create_monthly_partition`` does it for a partition it makes; a revision that adds an index
    or a key to a partitioned table calls this afterwards.
    """
    op.get_bind().execute(
        sa.text(
            "SELECT agentkeep_name_partition_indexes(i.inhrelid::regclass) FROM pg_inherits i"
            " WHERE i.inhparent = to_regclass(:table)"
        ),
        {"table": _checked(table)},
    )


def _analyze_partitions_with_rows(table: str) -> None:
    """Statistics for the partitions that hold rows, none for the empty ones made ahead.

    A partition never analyzed is assumed by the planner to be at least 10 pages, so its index
    scan is its cheapest path and "latest N" stays an ordered Append of backward index scans
    that stops after N rows. An empty partition analyzed as empty (0 rows) would make a
    sequential scan look free, and the planner would then sort the conversation's every row.
    Autovacuum, like this, only analyzes partitions that rows were written to.
    """
    bind = op.get_bind()
    partitions = bind.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(:table) ORDER BY 1"
        ),
        {"table": table},
    ).scalars()
    for partition in [_checked(name) for name in partitions]:
        # "SELECT 1", not an empty target list, which Citus refuses on a distributed table.
        holds_rows = bind.execute(sa.text(f"SELECT EXISTS (SELECT 1 FROM {partition})"))  # noqa: S608
        if holds_rows.scalar():
            op.execute(f"ANALYZE {partition}")


def _forced_neighbours(table: str, objects: dict[str, list[tuple[str, str]]]) -> list[str]:
    """Tables on the other end of ``table``'s foreign keys that force row-level security."""
    referencing = [name.rsplit(".", 1)[0] for name, _statement in objects["foreign_keys_in"]]
    found = op.get_bind().execute(
        sa.text(
            "SELECT DISTINCT c.oid::regclass::text FROM pg_class c"
            " WHERE c.relforcerowsecurity AND c.oid <> to_regclass(:table)"
            " AND (c.oid IN (SELECT confrelid FROM pg_constraint WHERE conrelid = to_regclass(:table)"
            "                AND contype = 'f')"
            "      OR c.oid::regclass::text = ANY(CAST(:referencing AS text[])))"
            " ORDER BY 1"
        ),
        {"table": table, "referencing": referencing},
    )
    return [_checked(name) for name in found.scalars()]


def _create_partitions_for_rows(table: str, source: str, key_column: str) -> None:
    """A partition for the month of every row in ``source``, and for this month and the next."""
    bind = op.get_bind()
    key_type = bind.execute(
        sa.text(
            "SELECT atttypid::regtype::text FROM pg_attribute"
            " WHERE attrelid = to_regclass(:table) AND attname = :column AND NOT attisdropped"
        ),
        {"table": source, "column": key_column},
    ).scalar()
    moment = {
        "uuid": f"agentkeep_uuid7_time({key_column}) AT TIME ZONE 'UTC'",
        "timestamp with time zone": f"{key_column} AT TIME ZONE 'UTC'",
        "timestamp without time zone": key_column,
        "date": f"{key_column}::timestamp",
    }.get(str(key_type))
    if moment is None:
        raise ValueError(f"{table}.{key_column}: cannot partition by month on a {key_type} column")
    this_month = "date_trunc('month', now() AT TIME ZONE 'UTC')"
    bind.execute(
        sa.text(
            "SELECT create_monthly_partition(:table, month) FROM ("  # noqa: S608 - checked identifiers
            f" SELECT DISTINCT date_trunc('month', {moment})::date AS month FROM {source}"
            f" UNION SELECT {this_month}::date UNION SELECT ({this_month} + interval '1 month')::date"
            ") AS months ORDER BY month"
        ),
        {"table": table},
    )


def create_partition_functions() -> None:
    """UUIDv7 bounds and ``create_monthly_partition``: the owner's, not the application role's."""
    for statement in (UUID7_FLOOR, UUID7_TIME, NAME_PARTITION_INDEXES, CREATE_MONTHLY_PARTITION):
        op.execute(statement)
    op.execute("REVOKE ALL ON FUNCTION create_monthly_partition(text, date) FROM PUBLIC")
    op.execute("REVOKE ALL ON FUNCTION agentkeep_name_partition_indexes(regclass) FROM PUBLIC")


def drop_partition_functions() -> None:
    op.execute("DROP FUNCTION create_monthly_partition(text, date)")
    op.execute("DROP FUNCTION agentkeep_name_partition_indexes(regclass)")
    op.execute("DROP FUNCTION agentkeep_uuid7_time(uuid)")
    op.execute("DROP FUNCTION agentkeep_uuid7_floor(timestamptz)")


def convert_to_monthly_partitions(table: str, key_column: str) -> None:
    """Rebuild ``table`` as monthly RANGE partitions of ``key_column`` (uuid: UUIDv7; or date/time).

    Rows, constraints, indexes, triggers, policies, grants, comments, foreign keys in and out, the
    views over it and its Citus distribution all carry over. Needs ``create_partition_functions()``.
    """
    _rebuild(table, key_column)


def convert_from_monthly_partitions(table: str) -> None:
    """The reverse of :func:`convert_to_monthly_partitions`: one plain table again, with its rows."""
    _rebuild(table, None)

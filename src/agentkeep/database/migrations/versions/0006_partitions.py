"""partitions: messages in monthly range partitions; create_monthly_partition

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:00:00.000000

- ``messages`` becomes a table partitioned by RANGE of ``id``, one partition per month (UTC):
  ids are UUIDv7, so a month is the range from the smallest UUIDv7 of its first millisecond to
  the next month's (``agentkeep_uuid7_floor``). Every key keeps ``id``, so the primary key
  (user_id, id), the conversation-order unique key and the foreign keys stay as they were.
- The existing rows are copied with everything the table had (read from the catalogs, so
  objects added by revisions after 0004 come along: partitioning.convert_to_monthly_partitions), into
  partitions for the months that hold rows, this month and the next. The server makes the
  following months ahead (agentkeep.partitions). Only the months that hold rows are analyzed:
  "latest N" stays an ordered Append of backward index scans without statistics
  (docs/partitions.md). Each month's copies of the keys are named ``<parent key>_YYYY_MM``
  (``agentkeep_name_partition_indexes``), so violations still name the input field.
- ``create_monthly_partition(table_name, start_date)`` (seed 001) for any of our tables
  partitioned by a uuid or date/time column; idempotent; the owner's only (creating a partition
  needs the parent's owner anyway). Not in the ``devassist`` compatibility schema, which is the
  application role's: the seed's call stays refused there.
- Downgrade makes ``messages`` one plain table again, with its rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentkeep.database.migrations import partitioning

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

creates_tables: tuple[str, ...] = ()


def upgrade() -> None:
    partitioning.create_partition_functions()
    partitioning.convert_to_monthly_partitions("messages", "id")


def downgrade() -> None:
    partitioning.convert_from_monthly_partitions("messages")
    partitioning.drop_partition_functions()

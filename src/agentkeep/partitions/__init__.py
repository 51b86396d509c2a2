"""Monthly time partitions: made ahead, listed, dropped (docs/partitions.md)."""

from agentkeep.partitions.maintenance import (
    Partition,
    drop_partition,
    ensure_partitions,
    ensure_partitions_once,
    list_partitions,
    partitioned_tables,
)
from agentkeep.partitions.scheduler import PartitionMaintenance

__all__ = [
    "Partition",
    "PartitionMaintenance",
    "drop_partition",
    "ensure_partitions",
    "ensure_partitions_once",
    "list_partitions",
    "partitioned_tables",
]

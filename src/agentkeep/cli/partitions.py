"""``agentkeep partitions``: list the monthly partitions, make the coming months' ahead."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from agentkeep.cli.output import JsonOption, out, print_json, run, settings, table, with_database
from agentkeep.database.engine import Database
from agentkeep.partitions import Partition, ensure_partitions, list_partitions

partitions_app = typer.Typer(no_args_is_help=True, help="Monthly partitions of the high-volume tables.")


@partitions_app.command("list")
def partitions_list(
    table_name: Annotated[str | None, typer.Option("--table", help="Only this table's partitions.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every partition with its month, bounds and row count (exact: counts every row)."""

    async def work(database: Database) -> list[Partition]:
        async with database.owner_transaction() as conn:
            return await list_partitions(conn, table_name)

    found = run(with_database(settings(), work))
    if as_json:
        print_json(
            [{**dataclasses.asdict(item), "month": str(item.month) if item.month else None} for item in found]
        )
        return
    listing = table("table", "partition", "month", "rows", "bounds")
    for item in found:
        listing.add_row(item.table, item.name, str(item.month or "-"), str(item.rows), item.bounds)
    out.print(listing)


@partitions_app.command("ensure")
def partitions_ensure(
    months: Annotated[int, typer.Option("--months", min=0, max=36, help="Months ahead of this one.")] = 3,
    as_json: JsonOption = False,
) -> None:
    """Make the partitions of this month and the next MONTHS for every partitioned table."""

    async def work(database: Database) -> list[str]:
        async with database.owner_transaction() as conn:
            return await ensure_partitions(conn, months)

    created = run(with_database(settings(), work))
    if as_json:
        print_json({"created": created})
    elif created:
        out.print("created " + ", ".join(created))
    else:
        out.print("every partition was there already")

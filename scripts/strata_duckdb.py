"""The one way Python loads Strata's tickets into DuckDB (the oracle of the tests and the
anchor of the benchmarks): the tickets table with the types of examples/queries/README.md,
from a `strata generate snapshot` CSV, and the one rewrite that makes DuckDB give INTERVAL
values as text. Imported by Tests/QueryTests/duckdb_oracle.py and sqltest_duckdb.py, and by
Benchmarks/QueryBench/duckdb_bench.py and sqlite_bench.py:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
    import strata_duckdb
"""
import duckdb

# The tickets table (StrataCore/Tables.swift) in DuckDB's types.
TICKET_COLUMNS = {
    "id": "BIGINT", "created_at": "TIMESTAMPTZ", "updated_at": "TIMESTAMPTZ", "first_response_at": "TIMESTAMPTZ",
    "solved_at": "TIMESTAMPTZ", "closed_at": "TIMESTAMPTZ", "status": "VARCHAR", "priority": "VARCHAR",
    "channel": "VARCHAR", "queue": "VARCHAR", "agent_id": "BIGINT", "customer_id": "BIGINT", "subject": "VARCHAR",
    "tags": "VARCHAR", "satisfaction": "TINYINT", "reopen_count": "INTEGER", "version": "BIGINT",
}


def connect(zone="UTC", threads=None):
    """A DuckDB connection in `zone`, on `threads` threads (None: DuckDB's default)."""
    con = duckdb.connect()
    con.execute(f"SET TimeZone='{zone}'")
    if threads is not None:
        con.execute(f"SET threads={threads}")
    return con


def load_tickets(con, csv_path, table="tickets"):
    """Loads a tickets CSV into the table `table`. The CSV writes an empty tag list as an empty
    field, which read_csv takes for NULL; in the ticket contract (docs/workload.md) it is the
    empty string, never NULL."""
    columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in TICKET_COLUMNS.items()) + "}"
    con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{csv_path}', header=true, columns={columns})")
    con.execute(f"UPDATE {table} SET tags = coalesce(tags, '')")


def intervals_as_text(con, sql):
    """`sql`, rewritten so that INTERVAL columns come back as DuckDB's text of them (Python's
    timedelta loses their parts); other columns keep their names and values."""
    rel = con.sql(sql)
    types = [str(t) for t in rel.types]
    if "INTERVAL" not in types:
        return sql
    names = rel.columns
    cols = ", ".join(f"#{n + 1}::VARCHAR AS \"{c}\"" if t == "INTERVAL" else f"#{n + 1} AS \"{c}\""
                     for n, (t, c) in enumerate(zip(types, names)))
    return f"SELECT {cols} FROM ({sql})"

"""The DuckDB side of QueryBench: the same tickets CSV loaded into DuckDB's own table (and,
when given, a Parquet file of the same rows), each query timed (median of --runs) with
1 and 2 threads. Prints one JSON object: {"engine": {"query": seconds}}."""
import json, statistics, sys, time
import duckdb

csv_path, queries_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
parquet = sys.argv[4] if len(sys.argv) > 4 else ""
queries = json.load(open(queries_path))
con = duckdb.connect()
con.execute("SET TimeZone='UTC'")
ts = "TIMESTAMPTZ"
t = time.perf_counter()
con.execute(f"""CREATE TABLE tickets AS SELECT * FROM read_csv('{csv_path}', header=true, columns={{
  'id': 'BIGINT', 'created_at': '{ts}', 'updated_at': '{ts}', 'first_response_at': '{ts}', 'solved_at': '{ts}',
  'closed_at': '{ts}', 'status': 'VARCHAR', 'priority': 'VARCHAR', 'channel': 'VARCHAR', 'queue': 'VARCHAR',
  'agent_id': 'BIGINT', 'customer_id': 'BIGINT', 'subject': 'VARCHAR', 'tags': 'VARCHAR', 'satisfaction': 'TINYINT',
  'reopen_count': 'INTEGER', 'version': 'BIGINT'}})""")
out = {"load_seconds": time.perf_counter() - t}

def timed(name, threads, prefix=""):
    con.execute(f"SET threads={threads}")
    res = {}
    for qname, sql in queries.items():
        samples = []
        for _ in range(runs):
            t = time.perf_counter()
            con.execute(prefix + sql).fetchall()
            samples.append(time.perf_counter() - t)
        res[qname] = statistics.median(samples)
    out[name] = res

timed("duckdb_table_1t", 1)
timed("duckdb_table_2t", 2)
if parquet:
    con.execute(f"CREATE VIEW tickets_parquet AS SELECT * FROM read_parquet('{parquet}')")
    q2 = {k: v.replace("FROM tickets", "FROM tickets_parquet") for k, v in queries.items()}
    queries_saved = queries
    queries = q2
    timed("duckdb_parquet_1t", 1)
    timed("duckdb_parquet_2t", 2)
print(json.dumps(out))

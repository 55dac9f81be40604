"""The anchors of QueryBench: the same tickets CSV loaded into DuckDB's own table, and, when
given, a Parquet file of the same rows read by DuckDB and by chdb (the ClickHouse engine,
what the Go system used for its cold tier; the queries translated to ClickHouse SQL by
hand below). Each query timed (median of --runs) with 1 and 2 threads. Prints one JSON
object: {"engine": {"query": seconds}}."""
import json, os, statistics, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
import strata_duckdb

csv_path, queries_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
parquet = sys.argv[4] if len(sys.argv) > 4 else ""
queries = json.load(open(queries_path))
con = strata_duckdb.connect()
t = time.perf_counter()
strata_duckdb.load_tickets(con, csv_path)
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

# ClickHouse SQL for the same questions (same answers; quantileExactInclusive interpolates
# as quantile_cont does).
CH = {
    "q01": "SELECT toDate(created_at) AS day, channel, count() AS created FROM T WHERE created_at >= toDateTime64('2026-10-01 00:00:00', 3, 'UTC') AND created_at < toDateTime64('2026-11-01 00:00:00', 3, 'UTC') GROUP BY day, channel ORDER BY day, channel",
    "q02": "SELECT priority, count() AS answered, quantileExactInclusive(0.5)((toUnixTimestamp64Milli(first_response_at) - toUnixTimestamp64Milli(created_at)) / 60000.0) AS median_min, quantileExactInclusive(0.9)((toUnixTimestamp64Milli(first_response_at) - toUnixTimestamp64Milli(created_at)) / 60000.0) AS p90_min FROM T WHERE first_response_at IS NOT NULL GROUP BY priority ORDER BY priority",
    "q03": "SELECT queue, count() AS backlog, countIf(status = 'new') AS new, countIf(status = 'open') AS open, countIf(status = 'pending') AS pending, countIf(status = 'on_hold') AS on_hold, countIf(agent_id IS NULL) AS unassigned FROM T WHERE status IN ('new', 'open', 'pending', 'on_hold') GROUP BY queue ORDER BY backlog DESC, queue",
    "q04": "SELECT agent_id, count() AS solved, quantileExactInclusive(0.5)((toUnixTimestamp64Milli(solved_at) - toUnixTimestamp64Milli(created_at)) / 3600000.0) AS median_resolution_h, avg(satisfaction) AS avg_csat FROM T WHERE solved_at >= toDateTime64('2026-10-01 00:00:00', 3, 'UTC') AND solved_at < toDateTime64('2026-11-01 00:00:00', 3, 'UTC') AND agent_id IS NOT NULL GROUP BY agent_id ORDER BY solved DESC, agent_id LIMIT 20",
    "q05": "SELECT toMonday(solved_at) AS week, channel, count() AS rated, avg(satisfaction) AS avg_csat, avg(if(satisfaction >= 4, 1.0, 0.0)) AS share_good FROM T WHERE satisfaction IS NOT NULL AND solved_at IS NOT NULL GROUP BY week, channel ORDER BY week, channel",
    "q08": "SELECT toMonday(created_at) AS week, uniqExact(customer_id) AS customers, count() AS tickets FROM T GROUP BY week ORDER BY week",
    "q10": "SELECT * FROM T WHERE id = 7654321",
    "q11": "SELECT count() AS tickets, count(first_response_at) AS answered, sum(version) AS sum_version, avg(reopen_count) AS avg_reopens, avg(satisfaction) AS avg_csat FROM T",
}
if parquet:
    try:
        import chdb
        source = f"file('{parquet}', Parquet)"
        for threads in (1, 2):
            res = {}
            for qname in queries:
                if qname not in CH: continue
                sql = CH[qname].replace("FROM T", "FROM " + source) + f" SETTINGS max_threads={threads}, session_timezone='UTC'"
                samples = []
                for _ in range(runs):
                    t = time.perf_counter()
                    chdb.query(sql, "CSV")
                    samples.append(time.perf_counter() - t)
                res[qname] = statistics.median(samples)
            out[f"chdb_parquet_{threads}t"] = res
    except ImportError:
        pass
print(json.dumps(out))

"""The SQLite anchor of QueryBench: the same tickets CSV in a SQLite table (timestamps as
INTEGER milliseconds, id the INTEGER PRIMARY KEY), and the analyst queries translated to
SQLite's SQL by hand (no quantile_cont: interpolated from ROW_NUMBER, as quantile_cont
does; weeks via date modifiers). Each answer is compared with DuckDB's over the same CSV,
so that the timing is of the same question. SQLite runs one thread. Prints one JSON object:
{"sqlite_1t": {"query": seconds}, "sqlite_load_seconds": s, "sqlite_mismatches": [...]}."""
import csv, json, math, os, sqlite3, statistics, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
import strata_duckdb

csv_path, queries_path, runs, db_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
queries = json.load(open(queries_path))
out = {}

COLUMNS = ["id", "created_at", "updated_at", "first_response_at", "solved_at", "closed_at", "status", "priority", "channel",
           "queue", "agent_id", "customer_id", "subject", "tags", "satisfaction", "reopen_count", "version"]
TIMES = {"created_at", "updated_at", "first_response_at", "solved_at", "closed_at"}
INTS = {"agent_id", "customer_id", "satisfaction", "reopen_count", "version"}

def ms(text):
    # 2026-10-04T23:59:59.999Z → epoch ms
    import datetime
    d = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(round(d.timestamp() * 1000))

if not os.path.exists(db_path):
    t = time.perf_counter()
    con = sqlite3.connect(db_path + ".tmp")
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY, created_at INTEGER, updated_at INTEGER, first_response_at INTEGER, "
                "solved_at INTEGER, closed_at INTEGER, status TEXT, priority TEXT, channel TEXT, queue TEXT, agent_id INTEGER, "
                "customer_id INTEGER, subject TEXT, tags TEXT, satisfaction INTEGER, reopen_count INTEGER, version INTEGER)")
    with open(csv_path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        assert header == COLUMNS, header
        def rows():
            for r in reader:
                yield tuple(int(v) if (c == "id" or c in INTS) and v != "" else (ms(v) if c in TIMES and v != "" else (None if v == "" and c != "tags" else v))
                            for c, v in zip(COLUMNS, r))
        con.executemany("INSERT INTO tickets VALUES (" + ",".join("?" * len(COLUMNS)) + ")", rows())
    con.commit()
    con.close()
    os.rename(db_path + ".tmp", db_path)
    out["sqlite_load_seconds"] = time.perf_counter() - t

OCT1, NOV1 = 1790812800000, 1793491200000  # 2026-10-01, 2026-11-01 UTC

def quantile(expr, p, part):
    """quantile_cont(expr, p) per `part` from a ranked CTE r(part, v, rn, n)."""
    pos = f"({p} * (n - 1))"
    lo = f"CAST({pos} AS INTEGER)"
    return f"sum(CASE WHEN rn = {lo} THEN v * (1 - ({pos} - {lo})) WHEN rn = {lo} + 1 THEN v * ({pos} - {lo}) ELSE 0 END)"

MONDAY = "date({c} / 1000, 'unixepoch', 'weekday 0', '-6 days')"
SQ = {
    "q01": f"SELECT date(created_at / 1000, 'unixepoch') AS day, channel, count(*) AS created FROM tickets WHERE created_at >= {OCT1} AND created_at < {NOV1} GROUP BY day, channel ORDER BY day, channel",
    "q02": f"""WITH r AS (SELECT priority, (first_response_at - created_at) / 60000.0 AS v,
                   ROW_NUMBER() OVER (PARTITION BY priority ORDER BY first_response_at - created_at) - 1 AS rn,
                   count(*) OVER (PARTITION BY priority) AS n
                 FROM tickets WHERE first_response_at IS NOT NULL)
               SELECT priority, max(n) AS answered, {quantile('v', 0.5, 'priority')} AS median_min, {quantile('v', 0.9, 'priority')} AS p90_min
               FROM r GROUP BY priority ORDER BY priority""",
    "q03": "SELECT queue, count(*) AS backlog, sum(status = 'new') AS new, sum(status = 'open') AS open, sum(status = 'pending') AS pending, sum(status = 'on_hold') AS on_hold, sum(agent_id IS NULL) AS unassigned FROM tickets WHERE status IN ('new', 'open', 'pending', 'on_hold') GROUP BY queue ORDER BY backlog DESC, queue",
    "q04": f"""WITH r AS (SELECT agent_id, satisfaction, (solved_at - created_at) / 3600000.0 AS v,
                   ROW_NUMBER() OVER (PARTITION BY agent_id ORDER BY solved_at - created_at) - 1 AS rn,
                   count(*) OVER (PARTITION BY agent_id) AS n
                 FROM tickets WHERE solved_at >= {OCT1} AND solved_at < {NOV1} AND agent_id IS NOT NULL)
               SELECT agent_id, max(n) AS solved, {quantile('v', 0.5, 'agent_id')} AS median_resolution_h, avg(satisfaction) AS avg_csat
               FROM r GROUP BY agent_id ORDER BY solved DESC, agent_id LIMIT 20""",
    "q05": f"SELECT {MONDAY.format(c='solved_at')} AS week, channel, count(*) AS rated, avg(satisfaction) AS avg_csat, avg(CASE WHEN satisfaction >= 4 THEN 1.0 ELSE 0.0 END) AS share_good FROM tickets WHERE satisfaction IS NOT NULL AND solved_at IS NOT NULL GROUP BY week, channel ORDER BY week, channel",
    "q08": f"SELECT {MONDAY.format(c='created_at')} AS week, count(DISTINCT customer_id) AS customers, count(*) AS tickets FROM tickets GROUP BY week ORDER BY week",
    "q10": "SELECT * FROM tickets WHERE id = 7654321",
    "q11": "SELECT count(*) AS tickets, count(first_response_at) AS answered, sum(version) AS sum_version, avg(reopen_count) AS avg_reopens, avg(satisfaction) AS avg_csat FROM tickets",
}

con = sqlite3.connect(db_path)
res, answers = {}, {}
for qname in queries:
    if qname not in SQ: continue
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        rows = con.execute(SQ[qname]).fetchall()
        samples.append(time.perf_counter() - t)
    res[qname] = statistics.median(samples)
    answers[qname] = rows
out["sqlite_1t"] = res

# The same questions? Compare with DuckDB over the same CSV (timestamps and dates as text
# are left out: SQLite's are ms and ISO dates; numbers with a tolerance).
duck = strata_duckdb.connect()
strata_duckdb.load_tickets(duck, csv_path)
def norm(v):
    if isinstance(v, (int, float)) and not isinstance(v, bool): return float(v)
    return str(v)[:10] if v is not None else None
mismatches = []
for qname, rows in answers.items():
    theirs = duck.execute(queries[qname]).fetchall()
    ok = len(rows) == len(theirs)
    for a, b in zip(rows, theirs):
        for x, y in zip(a, b):
            x, y = norm(x), norm(y)
            if isinstance(x, float) and isinstance(y, float):
                ok = ok and math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9)
            elif not (isinstance(x, float) or isinstance(y, float)):
                ok = ok and x == y
    if not ok: mismatches.append(qname)
out["sqlite_mismatches"] = mismatches
print(json.dumps(out))

"""DuckDB as the oracle: load a tickets CSV with the types of examples/queries/README.md,
run each query of a JSON list, print one JSON object per query: columns and rows as text."""
import datetime, json, sys
import duckdb

csv_path, queries_path = sys.argv[1], sys.argv[2]
zone = sys.argv[3] if len(sys.argv) > 3 else "UTC"
con = duckdb.connect()
con.execute(f"SET TimeZone='{zone}'")
con.execute("SET threads=1")
ts = "TIMESTAMPTZ"
con.execute(f"""CREATE TABLE tickets AS SELECT * FROM read_csv('{csv_path}', header=true, columns={{
  'id': 'BIGINT', 'created_at': '{ts}', 'updated_at': '{ts}', 'first_response_at': '{ts}', 'solved_at': '{ts}',
  'closed_at': '{ts}', 'status': 'VARCHAR', 'priority': 'VARCHAR', 'channel': 'VARCHAR', 'queue': 'VARCHAR',
  'agent_id': 'BIGINT', 'customer_id': 'BIGINT', 'subject': 'VARCHAR', 'tags': 'VARCHAR', 'satisfaction': 'TINYINT',
  'reopen_count': 'INTEGER', 'version': 'BIGINT'}})""")
# The CSV writes an empty tag list as an empty field, which read_csv takes for NULL; in the
# ticket contract (docs/workload.md) it is the empty string, never NULL.
con.execute("UPDATE tickets SET tags = coalesce(tags, '')")

def text(v):
    if v is None: return None
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, datetime.datetime):
        # As DuckDB prints a TIMESTAMPTZ: wall-clock time in the session zone and its offset.
        s = v.strftime("%Y-%m-%d %H:%M:%S")
        if v.microsecond:
            s += ("." + f"{v.microsecond:06d}").rstrip("0")
        minutes = int(v.utcoffset().total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        minutes = abs(minutes)
        return s + sign + f"{minutes // 60:02d}" + (f":{minutes % 60:02d}" if minutes % 60 else "")
    if isinstance(v, datetime.date): return v.isoformat()
    if isinstance(v, float): return repr(v)
    return str(v)

for q in json.load(open(queries_path)):
    try:
        # INTERVAL reaches Python as a timedelta, which loses DuckDB's parts: ask for its text.
        types = [str(t) for t in con.sql(q).types]
        if "INTERVAL" in types:
            names = con.sql(q).columns
            q = "SELECT " + ", ".join(f"#{n + 1}::VARCHAR AS \"{c}\"" if t == "INTERVAL" else f"#{n + 1} AS \"{c}\"" for n, (t, c) in enumerate(zip(types, names))) + f" FROM ({q})"
        cur = con.execute(q)
        cols = [d[0] for d in cur.description]
        rows = [[text(v) for v in r] for r in cur.fetchall()]
        print(json.dumps({"columns": cols, "rows": rows}))
    except Exception as e:
        print(json.dumps({"error": str(e)}))

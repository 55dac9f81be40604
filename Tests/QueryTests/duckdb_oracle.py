"""DuckDB as the oracle: load a tickets CSV with the types of examples/queries/README.md,
run each query of a JSON list, print one JSON object per query: columns and rows as text."""
import datetime, json, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
import strata_duckdb

csv_path, queries_path = sys.argv[1], sys.argv[2]
zone = sys.argv[3] if len(sys.argv) > 3 else "UTC"
con = strata_duckdb.connect(zone, threads=1)
strata_duckdb.load_tickets(con, csv_path)

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
        cur = con.execute(strata_duckdb.intervals_as_text(con, q))
        cols = [d[0] for d in cur.description]
        rows = [[text(v) for v in r] for r in cur.fetchall()]
        print(json.dumps({"columns": cols, "rows": rows}))
    except Exception as e:
        print(json.dumps({"error": str(e)}))

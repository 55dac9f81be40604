"""Checks the expected results of sql/*.test against DuckDB (the oracle), or with --rewrite
fills them in from DuckDB. Prints one line per mismatch; exit 1 if any."""
import datetime, glob, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
import strata_duckdb

here = sys.argv[1]
rewrite = "--rewrite" in sys.argv
con = strata_duckdb.connect("UTC")
strata_duckdb.load_tickets(con, f"{here}/edge.csv")
con.execute("CREATE TABLE ticket_metrics (bucket TIMESTAMPTZ, metric VARCHAR, value BIGINT)")

def text(v):
    if v is None: return "NULL"
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, datetime.datetime):
        v = v.astimezone(datetime.timezone.utc)
        s = v.strftime("%Y-%m-%d %H:%M:%S")
        if v.microsecond: s += ("." + f"{v.microsecond:06d}").rstrip("0")
        return s + "+00"
    if isinstance(v, datetime.date): return v.isoformat()
    if isinstance(v, float):
        if v != v: return "nan"
        if v in (float("inf"), float("-inf")): return "inf" if v > 0 else "-inf"
        return repr(v)
    return str(v)

def same(a, b):
    if a == b: return True
    try: return abs(float(a) - float(b)) <= 1e-9 * max(1, abs(float(a)), abs(float(b)))
    except ValueError: return False

bad = 0
for path in sorted(glob.glob(f"{here}/*.test")):
    lines = open(path).read().split("\n")
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if line == "query" or line.startswith("error "):
            j = i + 1
            sql = []
            while j < len(lines) and lines[j] not in ("----", ""): sql.append(lines[j]); j += 1
            q = " ".join(sql)
            if line.startswith("error"):
                try:
                    con.execute(q).fetchall(); print(f"{path}: DuckDB does not fail: {q}"); bad += 1
                except Exception: pass
                out += [line] + sql; i = j; continue
            expected = []
            k = j + 1
            while k < len(lines) and lines[k] != "": expected.append(lines[k]); k += 1
            got = ["\t".join(text(v) for v in r) for r in con.execute(strata_duckdb.intervals_as_text(con, q)).fetchall()]
            ok = len(got) == len(expected) and all(len(g.split("\t")) == len(e.split("\t")) and all(same(x, y) for x, y in zip(g.split("\t"), e.split("\t"))) for g, e in zip(got, expected))
            if not ok and not rewrite: print(f"{path}: {q}\n  expected {expected}\n  DuckDB   {got}"); bad += 1
            out += [line] + sql + ["----"] + (got if rewrite else expected)
            i = k
        else:
            out.append(line); i += 1
    if rewrite: open(path, "w").write("\n".join(out))
sys.exit(1 if bad else 0)

#!/usr/bin/env python3
"""Compares two ticket snapshots (CSV, as `strata generate snapshot --format csv` writes
them) column by column: the share of each value of the small columns, and the mean and
quartiles of the numeric ones and of durations. Used once to check `strata generate`
against the reference generator of the workload contract (docs/workload.md); standard
library only.  usage: compare-workload.py A.csv B.csv"""
import csv, statistics, sys
from datetime import datetime

def ms(s):
    return datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").timestamp() * 1000 + int(s[20:23]) if s else None

def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))

def shares(rows, col):
    counts = {}
    for r in rows:
        counts[r[col]] = counts.get(r[col], 0) + 1
    return {k: v / len(rows) for k, v in counts.items()}

def quartiles(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return "-"
    q = statistics.quantiles(values, n=4)
    return f"mean {statistics.fmean(values):10.1f}  q1 {q[0]:10.1f}  median {q[1]:10.1f}  q3 {q[2]:10.1f}  ({len(values)} values)"

a, b = load(sys.argv[1]), load(sys.argv[2])
print(f"{len(a)} rows in {sys.argv[1]}, {len(b)} rows in {sys.argv[2]}")
worst = 0.0
for col in ["status", "priority", "channel", "queue", "satisfaction", "reopen_count", "version"]:
    sa, sb = shares(a, col), shares(b, col)
    print(f"\n{col}")
    for k in sorted(set(sa) | set(sb), key=lambda k: -sa.get(k, 0))[:16]:
        d = abs(sa.get(k, 0) - sb.get(k, 0))
        worst = max(worst, d)
        print(f"  {k or '(null)':>12}  {sa.get(k, 0):7.3%}  {sb.get(k, 0):7.3%}")
print("\ntags per ticket")
for rows, name in ((a, "A"), (b, "B")):
    print(f"  {name}: {quartiles([len(r['tags'].split(',')) if r['tags'] else 0 for r in rows])}")
hour = 3_600_000.0
for label, f in [("hours to first response", lambda r: (ms(r["first_response_at"]) - ms(r["created_at"])) / hour if r["first_response_at"] else None),
                 ("hours to solved", lambda r: (ms(r["solved_at"]) - ms(r["created_at"])) / hour if r["solved_at"] else None),
                 ("agent_id", lambda r: int(r["agent_id"]) if r["agent_id"] else None),
                 ("customer_id", lambda r: int(r["customer_id"])),
                 ("created hour of day", lambda r: int(r["created_at"][11:13]))]:
    print(f"\n{label}")
    for rows, name in ((a, "A"), (b, "B")):
        print(f"  {name}: {quartiles([f(r) for r in rows])}")
print(f"\nlargest difference in a share: {worst:.3%}")

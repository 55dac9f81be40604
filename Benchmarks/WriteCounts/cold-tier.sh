#!/usr/bin/env bash
# The write path with and without a large cold tier (issue 15: "the second round trip for
# tickets that may be cold only where a live segment's id range can hold them; measure it
# with a cold tier of 10M"). Imports ROWS generated tickets (ids 1...ROWS) into a cold tier,
# then writes the events of EVENTS_FILE with their ids moved past them (+ OFFSET), in bulks
# of 1,000 over one connection, once over that cold tier and once over none, ROUNDS times
# alternated; prints events/s, the daemon's and Redis's CPU per event, and the MGETs (the
# daemon's reads plus one per write script call, its compare).
#
#   Benchmarks/WriteCounts/cold-tier.sh [STRATA_BINARY] [EVENTS_FILE] [ROWS] [ROUNDS]
#
# Defaults: .build/release/strata, bench-data/workload-events-20000.ndjson, 10000000, 2.
# Needs ~3 GB of disk for the CSV (removed at the end) and a few minutes to make it.
set -euo pipefail
strata=$(realpath "${1:-.build/release/strata}")
events=$(realpath "${2:-bench-data/workload-events-20000.ndjson}")
rows=${3:-10000000}
rounds=${4:-2}
offset=$((rows * 2))
work=$(mktemp -d "${TMPDIR:-/tmp}/strata-cold-tier-XXXXXX")
trap 'pkill -INT -f "serve --data-dir $work" 2>/dev/null || true; sleep 1; rm -rf "$work"' EXIT
cd "$work"
"$strata" generate snapshot --rows "$rows" --format csv --out snap.csv
"$strata" import --data-dir cold snap.csv >/dev/null
rm -f snap.csv
python3 - "$events" "$offset" >events.ndjson <<'PY'
import re, sys
off = int(sys.argv[2])
for line in open(sys.argv[1]):
    sys.stdout.write(re.sub(r'"id":(\d+)', lambda m: '"id":%d' % (int(m.group(1)) + off), line, count=1))
PY
one() {  # one() LABEL DATA_TEMPLATE(empty: none)
  local dir="$work/run-$1"
  rm -rf "$dir"; mkdir -p "$dir"
  [ -n "$2" ] && cp -r "$2" "$dir/data"
  redis-server --port 0 --unixsocket "$dir/r.sock" --dir "$dir" --save "" --appendonly yes --appendfsync everysec >/dev/null 2>&1 &
  for _ in $(seq 1 50); do redis-cli -s "$dir/r.sock" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  local port=$((20000 + RANDOM % 20000))
  "$strata" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" --insecure-no-auth --log-level warning --redis "$dir/r.sock" >"$dir/daemon.log" 2>&1 &
  local dpid=$!
  for _ in $(seq 1 200); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
  local rpid
  rpid=$(redis-cli -s "$dir/r.sock" info server | grep process_id | cut -d: -f2 | tr -d '\r')
  printf '%-9s ' "$1:"
  python3 - events.ndjson "$port" "$dpid" "$rpid" <<'PY'
import http.client, os, sys, time
def cpu(pid):
    f = open('/proc/%s/stat' % pid).read().rsplit(')', 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK')
lines = [l for l in open(sys.argv[1], 'rb').read().split(b'\n') if l]
c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[2]), timeout=600)
d0, r0, t0 = cpu(sys.argv[3]), cpu(sys.argv[4]), time.time()
for i in range(0, len(lines), 1000):
    c.request('POST', '/v1/events/_bulk', body=b'\n'.join(lines[i:i + 1000]))
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
t, d, r = time.time() - t0, cpu(sys.argv[3]) - d0, cpu(sys.argv[4]) - r0
print("%d events: %.0f events/s, daemon %.2f µs/event, Redis %.2f µs/event" % (len(lines), len(lines) / t, d * 1e6 / len(lines), r * 1e6 / len(lines)), end="")
PY
  local mget evalsha
  mget=$(redis-cli -s "$dir/r.sock" info commandstats | grep '^cmdstat_mget:' | sed 's/^[^:]*:calls=\([0-9]*\).*/\1/')
  evalsha=$(redis-cli -s "$dir/r.sock" info commandstats | grep '^cmdstat_evalsha:' | sed 's/^[^:]*:calls=\([0-9]*\).*/\1/')
  echo ", MGET $mget (write calls $evalsha)"
  kill -INT "$dpid"; wait "$dpid" 2>/dev/null || true
  redis-cli -s "$dir/r.sock" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$dir"
}
for _ in $(seq 1 "$rounds"); do
  one "cold-$rows" "$work/cold"
  one "no-cold" ""
done

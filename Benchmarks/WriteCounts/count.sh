#!/usr/bin/env bash
# Deterministic counts of the write path's work, for A/B of builds on a noisy machine
# (docs/benchmarks.md, session 12): the instructions redis-server executes (valgrind's
# callgrind) and the allocations the daemon makes (heaptrack) while one daemon writes the
# first N events of a generated stream in bulks of 1,000 over one connection.
#
#   Benchmarks/WriteCounts/count.sh redis|allocations [STRATA_BINARY] [EVENTS_FILE] [N]
#
# Defaults: .build/release/strata, bench-data/workload-events-20000.ndjson (WriteBench
# makes it; or `strata generate events --tickets 20000 --shuffle 0.05 --dup 0.01 --out ...`),
# N = 30000. STRATA_SERVE_FLAGS: more flags for `strata serve` (e.g. "--write-with transaction").
# STRATA_KEEP_COUNTS=1 keeps the run's folder (callgrind's annotate.txt). Needs valgrind (redis) or heaptrack (allocations): apt-get install valgrind heaptrack.
set -euo pipefail
what=${1:?redis or allocations}
strata=$(realpath "${2:-.build/release/strata}")
events=$(realpath "${3:-bench-data/workload-events-20000.ndjson}")
count=${4:-30000}
dir=$(mktemp -d "${TMPDIR:-/tmp}/strata-counts-XXXXXX")
port=$((20000 + RANDOM % 20000))
cleanup() {
  pkill -INT -f "serve --data-dir $dir/data" 2>/dev/null || true
  [ -S "$dir/r.sock" ] && redis-cli -s "$dir/r.sock" shutdown nosave >/dev/null 2>&1 || true
  sleep 3
  if [ -n "${STRATA_KEEP_COUNTS:-}" ]; then echo "kept: $dir (annotate.txt)"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
cd "$dir"
case "$what" in
  redis)
    command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" redis-server --port 0 --unixsocket "$dir/r.sock" \
      --dir "$dir" --appendonly yes --appendfsync everysec --save "" >"$dir/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 1 100); do redis-cli -s "$dir/r.sock" ping 2>/dev/null | grep -q PONG && break; sleep 0.3; done
    "$strata" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" --insecure-no-auth --log-level warning --redis "$dir/r.sock" ${STRATA_SERVE_FLAGS:-} >"$dir/daemon.log" 2>&1 &
    ;;
  allocations)
    command -v heaptrack >/dev/null || { echo "heaptrack is missing: apt-get install heaptrack" >&2; exit 1; }
    heaptrack -o "$dir/ht" "$strata" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" --insecure-no-auth --log-level warning ${STRATA_SERVE_FLAGS:-} >"$dir/daemon.log" 2>&1 &
    ;;
  *) echo "redis or allocations, not '$what'" >&2; exit 2 ;;
esac
for _ in $(seq 1 200); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.3; done
python3 - "$events" "$count" "$port" <<'PY'
import http.client, sys
lines = open(sys.argv[1], 'rb').read().split(b'\n')[:int(sys.argv[2])]
c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[3]), timeout=600)
for i in range(0, len(lines), 1000):
    c.request('POST', '/v1/events/_bulk', body=b'\n'.join(lines[i:i + 1000]))
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
pkill -INT -f "serve --data-dir $dir/data"
sleep 5
case "$what" in
  redis)
    redis-cli -s "$dir/r.sock" shutdown nosave >/dev/null 2>&1 || true
    wait "$redis_pid" || true
    callgrind_annotate "$dir/cg.out" >"$dir/annotate.txt" 2>/dev/null
    total=$(grep -m1 "PROGRAM TOTALS" "$dir/annotate.txt" | awk "{print \$1}")
    echo "redis-server instructions for $count events: $total"
    ;;
  allocations)
    heaptrack_print -f "$dir/ht.zst" 2>/dev/null | grep -E "^calls to allocation functions" | sed "s/^/daemon, $count events: /"
    ;;
esac

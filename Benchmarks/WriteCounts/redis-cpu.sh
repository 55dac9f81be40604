#!/usr/bin/env bash
# Redis's CPU time per event, system and user apart (INFO cpu before and after), while one
# daemon writes a generated stream in bulks of 1,000 over 4 connections into a private
# redis-server (AOF everysec). For A/B of write paths: run it alternately with each flag set.
#
#   Benchmarks/WriteCounts/redis-cpu.sh ["STRATA SERVE FLAGS"] [STRATA_BINARY] [EVENTS_FILE] [N]
#
# e.g. Benchmarks/WriteCounts/redis-cpu.sh "--write-with transaction". Defaults: no flags,
# .build/release/strata, bench-data/workload-events-20000.ndjson (WriteBench makes it), N = all.
set -euo pipefail
flags=${1:-}
strata=$(realpath "${2:-.build/release/strata}")
events=$(realpath "${3:-bench-data/workload-events-20000.ndjson}")
count=${4:-0}
dir=$(mktemp -d "${TMPDIR:-/tmp}/strata-redis-cpu-XXXXXX")
port=$((20000 + RANDOM % 20000))
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -INT "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
  fi
  redis-cli -s "$dir/r.sock" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
redis-server --port 0 --unixsocket "$dir/r.sock" --dir "$dir" --appendonly yes --appendfsync everysec --save "" >"$dir/redis.log" 2>&1 &
for _ in $(seq 1 100); do redis-cli -s "$dir/r.sock" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
# shellcheck disable=SC2086
"$strata" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" --insecure-no-auth --log-level warning --redis "$dir/r.sock" $flags >"$dir/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 200); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
cpu() { redis-cli -s "$dir/r.sock" info cpu | tr -d '\r' | grep -E "^used_cpu_(sys|user):" | cut -d: -f2 | tr '\n' ' '; }
before=$(cpu)
sent=$(python3 - "$events" "$count" "$port" <<'PY'
import http.client, sys, threading
lines = [l for l in open(sys.argv[1], 'rb').read().split(b'\n') if l]
if int(sys.argv[2]) > 0: lines = lines[:int(sys.argv[2])]
bulks = [b'\n'.join(lines[i:i + 1000]) for i in range(0, len(lines), 1000)]
def send(k):
    c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[3]), timeout=600)
    for b in bulks[k::4]:
        c.request('POST', '/v1/events/_bulk', body=b)
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(len(lines))
PY
)
after=$(cpu)
python3 - "$before" "$after" "$sent" "${flags:-(defaults)}" <<'PY'
import sys
b, a, n = [float(x) for x in sys.argv[1].split()], [float(x) for x in sys.argv[2].split()], int(sys.argv[3])
print(f"{sys.argv[4]}: {n} events, Redis CPU per event: sys {(a[0] - b[0]) / n * 1e6:.2f} µs, user {(a[1] - b[1]) / n * 1e6:.2f} µs, "
      f"total {(a[0] + a[1] - b[0] - b[1]) / n * 1e6:.2f} µs")
PY

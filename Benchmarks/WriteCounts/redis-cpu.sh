#!/usr/bin/env bash
# Redis's CPU time per event, system and user apart (INFO cpu before and after), and the
# daemon's (/proc: user, system, context switches of all its threads), while one
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
# The daemon: utime and stime (clock ticks), then voluntary and involuntary switches summed over its threads.
daemon_cpu() {
  local t; t=$(awk '{print $14, $15}' "/proc/$daemon_pid/stat")
  local v=0 n=0 a b
  for f in /proc/"$daemon_pid"/task/*/status; do
    a=$(awk '/^voluntary_ctxt_switches/ {print $2}' "$f" 2>/dev/null || echo 0)
    b=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$f" 2>/dev/null || echo 0)
    v=$((v + ${a:-0})); n=$((n + ${b:-0}))
  done
  echo "$t $v $n"
}
before=$(cpu)
dbefore=$(daemon_cpu)
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
dafter=$(daemon_cpu)
python3 - "$before" "$after" "$sent" "${flags:-(defaults)}" "$dbefore" "$dafter" "$(getconf CLK_TCK)" <<'PY'
import sys
b, a, n = [float(x) for x in sys.argv[1].split()], [float(x) for x in sys.argv[2].split()], int(sys.argv[3])
db, da, hz = [float(x) for x in sys.argv[5].split()], [float(x) for x in sys.argv[6].split()], float(sys.argv[7])
print(f"{sys.argv[4]}: {n} events, Redis CPU per event: sys {(a[0] - b[0]) / n * 1e6:.2f} µs, user {(a[1] - b[1]) / n * 1e6:.2f} µs, "
      f"total {(a[0] + a[1] - b[0] - b[1]) / n * 1e6:.2f} µs; daemon: user {(da[0] - db[0]) / hz / n * 1e6:.2f} µs, "
      f"sys {(da[1] - db[1]) / hz / n * 1e6:.2f} µs, context switches {(da[2] - db[2]) / n * 1000:.1f} voluntary and "
      f"{(da[3] - db[3]) / n * 1000:.1f} preempted per 1,000 events")
PY

#!/usr/bin/env bash
# What the write script's Lua costs Redis, against the commands it runs (docs/benchmarks.md,
# session 19). One daemon writes a generated stream into a private redis-server (AOF on,
# bulks of 1,000 on 4 connections). Redis 7 writes a script call to its AOF as its effects:
# the commands it ran that changed data, as one MULTI/EXEC block. Those blocks are then sent
# to a fresh redis-server (AOF on) with `redis-cli --pipe`, as they are ("effects") and with
# `WATCH` and `INCR` of a per-shard version key around each block ("effects + WATCH", the
# shape of an optimistic write without Lua), and as such a writer would send them ("as a
# writer without Lua would": every counter an HINCRBY, since it cannot ask the hour index
# whether an hour key is new, and after each EXEC the WATCH re-armed and the version read;
# and the same for a writer that knows which hour keys exist, "knowing which hours exist":
# a new hour key's fields in one HSET, as the script writes them).
# None of them has the reads such a writer would still make (the daemon's MGET of tickets
# not in its memory, about 5% of the Lua path's instructions on the replay).
#
#   Benchmarks/WriteCounts/effects.sh [--callgrind] [STRATA_BINARY] [EVENTS_FILE]
#
# Prints Redis CPU per event (used_cpu_user + used_cpu_sys) of each, and the commands by
# time; with --callgrind, each redis-server runs under valgrind and the instructions it
# executed are printed instead (deterministic; needs valgrind: apt-get install valgrind).
# Defaults: .build/release/strata, bench-data/workload-events-20000.ndjson (WriteBench makes it).
set -euo pipefail
callgrind=no
if [ "${1:-}" = "--callgrind" ]; then callgrind=yes; shift; fi
strata=$(realpath "${1:-.build/release/strata}")
events=$(realpath "${2:-bench-data/workload-events-20000.ndjson}")
if [ $callgrind = yes ] && ! command -v valgrind >/dev/null; then echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/strata-effects-XXXXXX")
port=$((20000 + RANDOM % 20000))
cleanup() {
  [ -n "${daemon:-}" ] && kill -INT "$daemon" 2>/dev/null || true
  for s in "$work"/*/r.sock; do [ -S "$s" ] && redis-cli -s "$s" shutdown nosave >/dev/null 2>&1 || true; done
  sleep 2
  rm -rf "$work"
}
trap cleanup EXIT
n=$(grep -c . "$events")
cpu() { redis-cli -s "$1" info cpu | tr -d '\r' | awk -F: '/^used_cpu_sys:/ {s=$2} /^used_cpu_user:/ {u=$2} END {print s + u}'; }
# start_redis DIR: a redis-server with AOF (everysec) on DIR/r.sock, under callgrind if asked.
start_redis() {
  mkdir -p "$1"
  local run=()
  [ $callgrind = yes ] && run=(valgrind --tool=callgrind "--callgrind-out-file=$1/cg.out")
  "${run[@]}" redis-server --port 0 --unixsocket "$1/r.sock" --dir "$1" --appendonly yes --appendfsync everysec \
    --save "" >"$1/redis.log" 2>&1 &
  echo $! >"$1/pid"
  for _ in $(seq 1 200); do redis-cli -s "$1/r.sock" ping 2>/dev/null | grep -q PONG && return; sleep 0.2; done
  echo "redis-server did not start in $1" >&2; exit 1
}
# stop_redis DIR LABEL BEFORE: prints what the server spent since BEFORE (its CPU), or all it
# executed (callgrind), per event.
stop_redis() {
  if [ $callgrind = yes ]; then
    redis-cli -s "$1/r.sock" shutdown nosave >/dev/null 2>&1 || true
    wait "$(cat "$1/pid")" 2>/dev/null || true
    local total
    total=$(callgrind_annotate "$1/cg.out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !t {t = $1} END {gsub(",", "", t); print t}')
    python3 -c "print('%-36s %s instructions, %.0f per event' % ('$2:', format($total, ','), $total / $n))"
  else
    local after keys
    after=$(cpu "$1/r.sock")
    keys=$(redis-cli -s "$1/r.sock" dbsize | tr -d '\r')
    python3 -c "print('%-36s Redis CPU %.2f µs per event (%d keys after)' % ('$2:', ($after - $3) * 1e6 / $n, $keys))"
    redis-cli -s "$1/r.sock" info commandstats | tr -d '\r' | grep cmdstat | \
      awk -F'[:,=]' -v n="$n" '{printf "    %-22s %.3f calls, %.3f µs per event\n", substr($1, 9), $3 / n, $5 / n}' | sort -k4 -nr | head -6
    redis-cli -s "$1/r.sock" shutdown nosave >/dev/null 2>&1 || true
  fi
}

echo "$n events from $events"
start_redis "$work/lua"
"$strata" serve --data-dir "$work/data" --listen "127.0.0.1:$port" --insecure-no-auth --log-level warning \
  --redis "$work/lua/r.sock" >"$work/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 1 200); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
before=$(cpu "$work/lua/r.sock")
python3 - "$events" "$port" <<'PY'
import http.client, sys, threading
lines = [l for l in open(sys.argv[1], 'rb').read().split(b'\n') if l]
bulks = [b'\n'.join(lines[i:i + 1000]) for i in range(0, len(lines), 1000)]
failed = []
def worker(k):
    c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[2]), timeout=600)
    for i in range(k, len(bulks), 4):
        c.request('POST', '/v1/events/_bulk', body=bulks[i])
        r = c.getresponse()
        r.read()
        if r.status != 200: failed.append(r.status)
threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
if failed: sys.exit('bulk requests failed: %s' % failed[:5])
PY
kill -INT "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=
aof=$(ls "$work"/lua/appendonlydir/*.incr.aof)
cp "$aof" "$work/effects.aof"
stop_redis "$work/lua" "through the daemon (Lua write script)" "$before"
python3 - "$work/effects.aof" "$work" <<'PY'
import re, sys
data = open(sys.argv[1], 'rb').read()
commands, i = [], 0
while i < len(data):
    if data[i:i + 1] != b'*': sys.exit('the AOF is not a sequence of RESP arrays at byte %d' % i)
    j = data.index(b'\r\n', i); argc = int(data[i + 1:j]); i = j + 2; args = []
    for _ in range(argc):
        j = data.index(b'\r\n', i); size = int(data[i + 1:j]); i = j + 2
        args.append(data[i:i + size]); i += size + 2
    commands.append(args)
def resp(args): return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)
plain, watched, nolua, knowing, blocks, k = [], [], [], [], 0, 0
while k < len(commands):
    if commands[k][0].upper() != b'MULTI':
        plain.append(resp(commands[k])); watched.append(resp(commands[k])); nolua.append(resp(commands[k])); knowing.append(resp(commands[k])); k += 1
        continue
    end = k
    while commands[end][0].upper() != b'EXEC': end += 1
    block = commands[k:end + 1]
    tags = {m.group(1) for c in block[1:-1] for a in c[1:2] for m in [re.search(rb'\{(\d+)\}', a)] if m}
    plain += [resp(c) for c in block]
    version = [b'st:{' + t + b'}:ver' for t in sorted(tags)]
    watched += ([resp([b'WATCH'] + version)] if version else []) + [resp(c) for c in block[:-1]] \
        + [resp([b'INCR', v]) for v in version] + [resp(block[-1])]
    # A writer without Lua cannot ask the hour index whether an hour key is new: every
    # counter is an HINCRBY; it re-arms its WATCH and reads the version after each EXEC.
    body = []
    for c in block[1:-1]:
        if c[0].upper() == b'HSET':
            body += [[b'HINCRBY', c[1], c[f], c[f + 1]] for f in range(2, len(c), 2)]
        else:
            body.append(c)
    rearm = [resp([b'WATCH'] + version), resp([b'MGET'] + version)] if version else []
    nolua += [resp(block[0])] + [resp(c) for c in body] + [resp([b'INCR', v]) for v in version] + [resp(block[-1])] + rearm
    # The same, for a writer that knows which hour keys exist (every writer that makes one
    # bumps the shard's version, so the WATCH covers it): a new hour key's fields in one HSET.
    knowing += [resp(c) for c in block[:-1]] + [resp([b'INCR', v]) for v in version] + [resp(block[-1])] + rearm
    blocks += 1; k = end + 1
open(sys.argv[2] + '/effects.resp', 'wb').write(b''.join(plain))
open(sys.argv[2] + '/watched.resp', 'wb').write(b''.join(watched))
open(sys.argv[2] + '/nolua.resp', 'wb').write(b''.join(nolua))
open(sys.argv[2] + '/knowing.resp', 'wb').write(b''.join(knowing))
print('the AOF: %d commands, %d script calls (MULTI/EXEC blocks)' % (len(commands), blocks))
PY
for variant in effects watched nolua knowing; do
  start_redis "$work/$variant"
  before=$(cpu "$work/$variant/r.sock")
  redis-cli -s "$work/$variant/r.sock" --pipe <"$work/$variant.resp" >"$work/$variant.pipe" 2>&1
  grep -q "errors: 0," "$work/$variant.pipe" || { echo "redis-cli --pipe reported errors:" >&2; tail -3 "$work/$variant.pipe" >&2; exit 1; }
  label="the effects, MULTI/EXEC"
  [ $variant = watched ] && label="the effects + WATCH/INCR per shard"
  [ $variant = nolua ] && label="as a writer without Lua would"
  [ $variant = knowing ] && label="the same, knowing which hours exist"
  stop_redis "$work/$variant" "$label" "$before"
done

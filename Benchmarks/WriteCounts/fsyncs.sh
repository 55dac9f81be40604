#!/usr/bin/env bash
# How often the daemon's redis-server writes and fsyncs its AOF during one WriteBench bulk
# run (docs/durability.md, "What strict costs"): the system calls of the managed
# redis-server (the one `strata serve` started), counted by perf's syscall tracepoints,
# beside WriteBench's own figures. Under `--durability strict` (appendfsync always) Redis
# fsyncs once per pass of its event loop that wrote anything.
#
#   Benchmarks/WriteCounts/fsyncs.sh [WRITEBENCH FLAGS...]
#
# e.g. Benchmarks/WriteCounts/fsyncs.sh --durability strict --workload live. WriteBench
# runs with --tickets 20000 --phases bulk --runs 1 and the flags given. perf: apt-get
# install linux-perf (needs permission to trace: root, or kernel.perf_event_paranoid <= -1).
set -euo pipefail
command -v perf >/dev/null || { echo "perf is needed: apt-get install linux-perf" >&2; exit 2; }
[ -x .build/release/WriteBench ] || { echo "build it first: swift build -c release --product WriteBench" >&2; exit 2; }
out=$(mktemp "${TMPDIR:-/tmp}/strata-fsyncs-XXXXXX")
counts="$out.perf"
trap 'rm -f "$out" "$counts"' EXIT
.build/release/WriteBench --tickets 20000 --phases bulk --runs 1 "$@" >"$out" 2>&1 &
bench=$!
# The managed redis-server: a child of the `strata serve` WriteBench started.
redis=""
for _ in $(seq 1 600); do
  for daemon in $(pgrep -f "strata serve" || true); do
    redis=$(pgrep -P "$daemon" redis-server || true)
    [ -n "$redis" ] && break
  done
  [ -n "$redis" ] && break
  kill -0 "$bench" 2>/dev/null || break
  sleep 0.05
done
[ -n "$redis" ] || { cat "$out"; echo "no managed redis-server found" >&2; exit 1; }
perf stat -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_write,syscalls:sys_enter_read,syscalls:sys_enter_epoll_wait \
  -p "$redis" -o "$counts" &
tracer=$!
wait "$bench"
kill -INT "$tracer" 2>/dev/null || true
wait "$tracer" 2>/dev/null || true
echo "managed redis-server (pid $redis), system calls during the run (the load comes after its start):"
grep -E "syscalls:" "$counts" | awk '{ printf "  %-10s %s\n", $1, $2 }'
grep -E "^run 1|rounds [0-9]" "$out"

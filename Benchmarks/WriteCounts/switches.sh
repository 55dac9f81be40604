#!/usr/bin/env bash
# Where a single event's thread switches happen in the daemon (docs/benchmarks.md, session
# 19): one daemon on a private redis-server, N single events (`POST /v1/events`) sent one at
# a time over one connection (a closed loop: nothing overlaps, so every hand-off between
# threads is a wake-up), after 500 to warm up; then N more with perf attached. Prints, per request, the daemon's context
# switches by thread name (from /proc, all threads) and its CPU time; with perf, also where
# the daemon's threads were switched out (`sched:sched_switch`, user stacks), by call site.
#
#   Benchmarks/WriteCounts/switches.sh [STRATA_BINARY] [EVENTS_FILE] [N]
#
# Defaults: .build/release/strata, bench-data/workload-events-20000.ndjson (WriteBench
# makes it), N = 3000. The switch counts vary by a few tenths from run to run; the call
# sites say which hand-off a change removed. perf: apt-get install linux-perf (needs
# permission to trace: root, or kernel.perf_event_paranoid <= -1).
set -euo pipefail
strata=$(realpath "${1:-.build/release/strata}")
events=$(realpath "${2:-bench-data/workload-events-20000.ndjson}")
count=${3:-3000}
[[ "$count" =~ ^[0-9]+$ ]] && (( count >= 100 && count <= 1000000 )) || { echo "N must be 100...1000000, not '$count'" >&2; exit 2; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/strata-switches-XXXXXX")
port=$((20000 + RANDOM % 20000))
cleanup() {
  if [ -n "${daemon:-}" ]; then
    kill -INT "$daemon" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$daemon" 2>/dev/null || true
  fi
  [ -S "$dir/r.sock" ] && redis-cli -s "$dir/r.sock" shutdown nosave >/dev/null 2>&1 || true
  sleep 1
  rm -rf "$dir"
}
trap cleanup EXIT
redis-server --port 0 --unixsocket "$dir/r.sock" --dir "$dir" --appendonly yes --appendfsync everysec --save "" >"$dir/redis.log" 2>&1 &
for _ in $(seq 1 100); do redis-cli -s "$dir/r.sock" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
"$strata" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" --insecure-no-auth --log-level warning --redis "$dir/r.sock" >"$dir/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 1 200); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
tracing=no
if command -v perf >/dev/null; then tracing=yes; fi
python3 - "$events" "$count" "$port" "$daemon" "$dir" "$tracing" <<'PY'
import glob, http.client, os, signal, subprocess, sys, time
events, count, port, pid, workdir, tracing = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6] == 'yes'

def threads():
    """Context switches (voluntary + involuntary) per thread, keyed by task id."""
    out = {}
    for task in glob.glob('/proc/%s/task/*' % pid):
        try:
            name = open(task + '/comm').read().strip()
            n = sum(int(l.split()[1]) for l in open(task + '/status') if 'ctxt_switches' in l)
        except OSError:
            continue  # a thread that ended meanwhile
        out[task] = (name, n)
    return out

def cpu_ticks():
    fields = open('/proc/%s/stat' % pid).read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])

need = 500 + 2 * count
lines = [l for l in open(events, 'rb').read().split(b'\n') if l][:need]
if len(lines) < need:
    sys.exit('%s has %d events; %d needed' % (events, len(lines), need))
conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
def send(line):
    conn.request('POST', '/v1/events', body=line)
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        sys.exit('the daemon answered %d to %r' % (r.status, line[:80]))
for l in lines[:500]:
    send(l)
# Counted without perf attached (tracing costs the daemon CPU), then traced on the next N.
before, ticks = threads(), cpu_ticks()
for l in lines[500:500 + count]:
    send(l)
after, ticks2 = threads(), cpu_ticks()
perf = None
if tracing:
    perf = subprocess.Popen(['perf', 'record', '-q', '-e', 'sched:sched_switch', '-g', '-p', pid,
                             '-o', workdir + '/sched.data'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    for l in lines[500 + count:]:
        send(l)
    perf.send_signal(signal.SIGINT)
    perf.wait()
by_name = {}
for task, (name, n) in after.items():
    by_name[name] = by_name.get(name, 0) + n - before.get(task, (name, 0))[1]
total = sum(by_name.values())
hz = os.sysconf('SC_CLK_TCK')
print('%d single events, one at a time: daemon context switches per request %.2f (%s); daemon CPU per request %.1f µs'
      % (count, total / count, ', '.join('%s %.2f' % (k, v / count) for k, v in sorted(by_name.items(), key=lambda kv: -kv[1]) if v),
         (ticks2 - ticks) * 1e6 / hz / count))
if not tracing:
    print('(perf is missing: no call sites)')
    sys.exit(0)
# Where each switch-out happened: the innermost frames above the kernel's, up to the first
# two of Strata's or the libraries' Swift functions, so that a site reads as "who handed off".
script = subprocess.run(['perf', 'script', '-i', workdir + '/sched.data', '-F', 'comm,ip,sym'],
                        capture_output=True, text=True).stdout
sites = {}
for block in script.split('\n\n'):
    rows = [r.strip() for r in block.strip().split('\n') if r.strip()]
    if not rows:
        continue
    # The innermost user frame (what blocked or woke), then the first two frames above the
    # runtime's own (Dispatch, the concurrency runtime, NIO's and libc's plumbing): who did it.
    frames, plumbing = [], ('sem_post', '_dispatch', 'swift_task', 'swift::', 'swift_job', '$sScc', '$sScC',
                            '__GI_', '__libc', '__futex', 'pthread', 'start_thread', 'read', 'write', 'epoll_wait')
    for r in rows[1:]:
        parts = r.split(None, 1)
        sym = (parts[1] if len(parts) > 1 else parts[0]).split('+')[0]
        if sym.startswith('[unknown]') or 'schedule' in sym or sym.startswith(('__x64', 'do_', 'entry_SYSCALL', 'futex', 'ksys', 'vfs_', 'sock_', 'unix_stream', 'exit_to_user', 'irqentry', 'asm_', 'sysvec', 'futex_do', 'schedule_', '0x')):
            continue
        if not frames:
            frames.append(sym)
        elif not sym.startswith(plumbing):
            frames.append(sym)
        if len(frames) >= 3:
            break
    key = (rows[0].split()[0], ' <- '.join(f[:90] for f in frames))
    sites[key] = sites.get(key, 0) + 1
print('switch-outs per request by thread and call site (perf sched:sched_switch):')
for (comm, site), n in sorted(sites.items(), key=lambda kv: -kv[1])[:12]:
    print('  %5.2f  %-16s %s' % (n / count, comm, site))
PY

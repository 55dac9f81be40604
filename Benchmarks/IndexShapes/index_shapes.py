#!/usr/bin/env python3
"""The hot index's memory and CPU in two shapes, on a private redis-server (Debian's).

Shape "shard": one sorted set per shard (st:{s}:idx), as Strata keeps it today: past
128 members (zset-max-listpack-entries) Redis holds it as a skiplist and a dict, about
100 B per member.
Shape "buckets": one sorted set per shard and id range (st:{s}:ix:<id >> BITS>), small
enough to stay a listpack (ids spread over the shards by a hash, so a range of 2^BITS
ids holds 2^BITS / shards of a shard's tickets on average).

For each shape it writes N ticket ids scored by an hour, as the write path does (one
call per shard batch of --batch tickets, in a script so that a batch's bucket keys cost
one call as they would in Strata's write script), and prints Redis memory per ticket,
Redis CPU per ticket written, and the time to find every ticket older than a cutoff (the
compactor's selection: ZRANGEBYSCORE over the shard key, or over every bucket key).

    python3 Benchmarks/IndexShapes/index_shapes.py --tickets 1000000
It prints figures; it asserts nothing.
"""
import argparse, os, random, sys, time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from private_redis import Conn, cpu, info, private_server, resp  # noqa: E402


def shard_of(i, shards):  # KeyLayout.shard(of:), the same mix
    m = (1 << 64) - 1
    z = (i + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return (z ^ (z >> 31)) % shards

# One call per shard batch: ARGV = score, id, key suffix (bucket or ""), ...
WRITE = """
for i = 1, #ARGV, 3 do
  redis.call('ZADD', KEYS[1] .. ARGV[i + 2], 'LT', ARGV[i], ARGV[i + 1])
end
return 0
"""
WRITE_ONE = """
local a = {}
for i = 1, #ARGV, 3 do a[#a + 1] = ARGV[i]; a[#a + 1] = ARGV[i + 1] end
redis.call('ZADD', KEYS[1], 'LT', unpack(a))
return 0
"""

def run(shape, args, path):
    c = Conn(path)
    c.call("FLUSHALL")
    base_mem = int(info(c, "memory")["used_memory"])
    c.call("CONFIG", "RESETSTAT")
    sha = c.call("SCRIPT", "LOAD", WRITE_ONE if shape == "shard" else WRITE).decode()
    rnd = random.Random(7)
    ids = list(range(1, args.tickets + 1)); rnd.shuffle(ids)
    first_hour = 490_000
    by_shard = {}
    cpu0 = cpu(c); t0 = time.perf_counter()
    pending = []
    for n, i in enumerate(ids):
        s = shard_of(i, args.shards)
        by_shard.setdefault(s, []).append(i)
        if len(by_shard[s]) == args.batch:
            pending.append((s, by_shard.pop(s)))
        if len(pending) >= 64 or n == len(ids) - 1:
            pending += [(s, b) for s, b in by_shard.items()] if n == len(ids) - 1 else []
            cmds = []
            for s, batch in pending:
                argv = []
                for i in batch:
                    suffix = "" if shape == "shard" else str(i >> args.bits)
                    argv += [first_hour + rnd.randrange(24 * 90), i, suffix]
                key = "st:{%d}:idx" % s if shape == "shard" else "st:{%d}:ix:" % s
                cmds.append(resp("EVALSHA", sha, 1, key, *argv))
            c.pipeline(cmds); pending = []
    write_cpu = cpu(c) - cpu0; write_s = time.perf_counter() - t0
    used = int(info(c, "memory")["used_memory"]) - base_mem
    all_keys = c.call("KEYS", "st:*")
    keys = len(all_keys)
    # MEMORY USAGE of every key (SAMPLES 0: every member), and used_memory's growth beside it.
    mem = sum(int(x) for x in c.pipeline([resp("MEMORY", "USAGE", k, "SAMPLES", 0) for k in all_keys]))
    enc = {}
    for e in c.pipeline([resp("OBJECT", "ENCODING", k) for k in all_keys]):
        enc[e.decode()] = enc.get(e.decode(), 0) + 1
    stats = info(c, "commandstats")
    zadd = stats.get("cmdstat_zadd", "")
    # The selection: every ticket scored before the cutoff (the oldest third of the hours).
    cutoff = first_hour + 24 * 30
    cpu0 = cpu(c); t0 = time.perf_counter(); found = 0
    for s in range(args.shards):
        if shape == "shard":
            keys_of_shard = ["st:{%d}:idx" % s]
        else:
            cursor, keys_of_shard = b"0", []
            while True:
                cursor, batch = c.call("SCAN", cursor, "MATCH", "st:{%d}:ix:*" % s, "COUNT", 10000)
                keys_of_shard += batch
                if cursor == b"0": break
        replies = c.pipeline([resp("ZRANGEBYSCORE", k, "-inf", "(%d" % cutoff) for k in keys_of_shard])
        found += sum(len(r) for r in replies)
    select_cpu = cpu(c) - cpu0; select_s = time.perf_counter() - t0
    n = args.tickets
    print("%-8s %9d tickets, %7d keys %s: memory %6.1f B/ticket (used_memory grew %.1f); write: Redis CPU %.2f µs/ticket (%.1f s wall); "
          "select %d aged: Redis CPU %.2f µs/ticket found, %.2f s wall; %s"
          % (shape, n, keys, dict(sorted(enc.items())), mem / n, used / n, write_cpu / n * 1e6, write_s,
             found, select_cpu / max(found, 1) * 1e6, select_s, zadd))
    return mem / n, write_cpu / n * 1e6

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tickets", type=int, default=200_000)
    p.add_argument("--shards", type=int, default=32)
    p.add_argument("--batch", type=int, default=40, help="tickets per shard batch (one script call)")
    p.add_argument("--bits", type=int, default=11, help="a bucket is an id range of 2^bits ids")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    if not 1 <= args.tickets <= 20_000_000: p.error("--tickets must be 1...20000000")
    with private_server(prefix="index-shapes-") as sock:
        results = {"shard": [], "buckets": []}
        for _ in range(args.runs):
            for shape in ("shard", "buckets"):
                results[shape].append(run(shape, args, sock))
        med = lambda xs: sorted(xs)[len(xs) // 2]
        for shape, rs in results.items():
            print("median %-8s memory %.1f B/ticket, write CPU %.2f µs/ticket"
                  % (shape, med([m for m, _ in rs]), med([w for _, w in rs])))

if __name__ == "__main__":
    main()

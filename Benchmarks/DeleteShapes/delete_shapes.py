#!/usr/bin/env python3
"""What the compactor's "delete if unchanged" costs Redis, in three shapes, on a private
redis-server (Debian's, AOF everysec as `strata serve` runs it).

Each shape removes the same N tickets of one shard (values of --value-bytes random bytes,
ids spread as 32 shards spread them, in hot index buckets of 1,000 ids) in calls of 500
tickets, 8 calls a pipeline, and prints Redis CPU per ticket (`INFO cpu`):

- values: the compactor's delete script as it is (`HotTierAccess.deleteScript`, read from
          the Swift source), comparing values: every value sent back and compared with an
          `MGET` (a shard written to during its migration; before session 24, every shard);
- mark:   the same script on the shard's compaction mark (docs/tiering.md, "Deleting on a
          mark"): no values, no compare, `DEL` and `ZREM` fed straight from KEYS and ARGV;
- plain:  `DEL` and `ZREM` sent as commands, no script: the floor of the delete.

It also times `WATCH` of K keys on one connection (the optimistic transaction's shape):
Redis 7.0 checks each watched key against the connection's whole list, so a key costs in
proportion to the keys already watched.

    python3 Benchmarks/DeleteShapes/delete_shapes.py --tickets 40000 --rounds 3
It prints figures; it asserts nothing but that each shape removed every ticket.
"""
import argparse, os, re, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from private_redis import Conn, cpu, private_server, resp  # noqa: E402


def swift_string(path, name):
    """A Swift multi-line string constant's text (indentation removed)."""
    m = re.search(name + r' = """\n(.*?)\n    """', open(path).read(), re.S)
    return "\n".join(l[4:] for l in m.group(1).split("\n"))


def delete_script():
    s = swift_string(os.path.join(ROOT, "Sources/Compactor/HotTierAccess.swift"), "static let deleteScript")
    refresh = swift_string(os.path.join(ROOT, "Sources/HotTier/HotIndex.swift"), "public static let refreshBucketFunction")
    last = swift_string(os.path.join(ROOT, "Sources/Compactor/HotTierAccess.swift"), "static let lastGeneratedFunction")
    return s.replace("\\(HotIndex.refreshBucketFunction)", refresh).replace("\\(lastGeneratedFunction)", last)


SHARD, WIDTH, NONCE = "st:{1}", 1000, "n0nce"


def pipe(c, commands):
    return c.pipeline([resp(*command) for command in commands])


def load(c, n, value_bytes):
    c.call("FLUSHALL")
    c.call("SET", SHARD + ":fence", "token")
    c.call("SET", SHARD + ":cm", NONCE + "|0-0")  # the compaction mark, as a migration sets it (no log yet)
    ids = [1 + 32 * i for i in range(n)]
    batch = []
    for t in ids:
        batch.append(("SET", "%s:t:%d" % (SHARD, t), os.urandom(value_bytes)))
        batch.append(("ZADD", "%s:ix:%d" % (SHARD, t // WIDTH), 1000, t))
        if len(batch) >= 2000:
            pipe(c, batch)
            batch = []
    pipe(c, batch)
    return ids


def calls(c, ids, shape, sha):
    values = dict(zip(ids, pipe(c, [("GET", "%s:t:%d" % (SHARD, t)) for t in ids]))) if shape == "values" else {}
    out = []
    for j in range(0, len(ids), 500):
        part = sorted(ids[j:j + 500], key=lambda t: (t // WIDTH, t))
        buckets = sorted({t // WIDTH for t in part})
        position = {b: k for k, b in enumerate(buckets)}
        n = len(part)
        keys = [SHARD + ":fence", SHARD + ":ixd", SHARD + ":log", SHARD + ":ixn", SHARD + ":cm"]
        keys += ["%s:t:%d" % (SHARD, t) for t in part] + ["%s:ix:%d" % (SHARD, b) for b in buckets] + [SHARD + ":ro", SHARD + ":mv"]
        if shape == "plain":
            out.append(["DEL"] + keys[5:5 + n])
            out += [["ZREM", "%s:ix:%d" % (SHARD, b)] + [t for t in part if t // WIDTH == b] for b in buckets]
            continue
        mode = "v" if shape == "values" else "m"
        argv = ["token", n, mode, NONCE if mode == "m" else "", len(buckets)]
        for b in buckets:
            group = [t for t in part if t // WIDTH == b]
            argv += [6 + n + position[b], len(group)]
            for t in group: argv += [t] if mode == "m" else [t, values[t]]
        argv.append(0)  # no log entries
        out.append(["EVALSHA", sha, len(keys)] + keys + argv)
    return out


def measure(c, shape, sha, n, value_bytes):
    ids = load(c, n, value_bytes)
    commands = calls(c, ids, shape, sha)
    before = cpu(c)
    for j in range(0, len(commands), 8):
        replies = pipe(c, commands[j:j + 8])
        assert not any(isinstance(r, Exception) for r in replies), replies
    used = cpu(c) - before
    left = pipe(c, [("EXISTS", "%s:t:%d" % (SHARD, t)) for t in ids])
    assert all(x == b"0" for x in left), "%s left tickets in Redis" % shape
    return used * 1e6 / n


def watch_cost(c, keys):
    before = cpu(c)
    for j in range(0, keys, 500):
        c.call("WATCH", *["%s:t:%d" % (SHARD, 1 + 32 * i) for i in range(j, min(keys, j + 500))])
    used = cpu(c) - before
    c.call("UNWATCH")
    return used * 1e6 / keys


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tickets", type=int, default=40000)
    p.add_argument("--value-bytes", type=int, default=280, help="a generated ticket's stored value is about 280 B")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    if not 500 <= a.tickets <= 2_000_000: p.error("--tickets must be 500...2000000")
    if not 1 <= a.value_bytes <= 1 << 20: p.error("--value-bytes must be 1...1048576")
    if not 1 <= a.rounds <= 9: p.error("--rounds must be 1...9")
    with private_server(prefix="strata-delete-shapes-") as sock:
        c = Conn(sock)
        script = delete_script()
        sha = c.call("SCRIPT", "LOAD", script).decode()
        shas = {"values": sha, "mark": sha, "plain": None}
        figures = {shape: [] for shape in shas}
        for r in range(a.rounds):
            for shape, sha in shas.items():
                figures[shape].append(measure(c, shape, sha, a.tickets, a.value_bytes))
        print("delete if unchanged: %d tickets of %d B, calls of 500, Redis CPU per ticket (medians of %d rounds)" % (a.tickets, a.value_bytes, a.rounds))
        for shape, v in figures.items():
            print("  %-14s %.2f µs   (%s)" % (shape, sorted(v)[len(v) // 2], ", ".join("%.2f" % x for x in v)))
        load(c, max(a.tickets, 1000), 8)
        print("WATCH, Redis CPU per key watched on one connection:")
        for k in (100, 500, 1000, 5000, 20000):
            if k <= a.tickets: print("  %6d keys: %.2f µs a key" % (k, watch_cost(c, k)))


if __name__ == "__main__":
    main()

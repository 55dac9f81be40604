/// The write path that merges in the daemon (docs/hot-tier.md, "Merging in the daemon"):
/// per shard, the batch's tickets are read (one `MGET`, all calls pipelined), merged in Swift
/// (`ShardMerge`, the script's rule), and written back by `WriteScript` only if every one of
/// them is still what was read; a shard whose tickets changed meanwhile (another daemon, the
/// compactor) is read and merged again. Redis keeps only what must be atomic: the compare,
/// the writes, the log appends and the counters of one shard, in one script call.
enum WriteScript {
    /// KEYS: [1] change log, [2] hot index directory, [3] hour index, [4] incomplete set, [5]
    ///       open minutes, then the n ticket keys written (ticket i is KEYS[5 + i]), then the
    ///       m keys only compared (tickets the merge took from memory, or merged as absent
    ///       without a read, and left unchanged; and, after them, the shard's moved count when
    ///       the merge rests on it: docs/hot-tier.md, "Tickets not read"), then the counter keys: the minute keys, the hour keys with counts of
    ///       their own, then the hours of minute keys that have none; then the hot index
    ///       bucket keys and the hot index count; then the shard's reopened set
    ///       (`KeyLayout.reopened`); last, the shard's compaction mark (deleted by a call that
    ///       writes tickets and logs nothing, `KeyLayout.compactionMark`).
    /// ARGV: [1] n, [2] minute retention s (after the minute ends), [3] reserved, 0 (it was
    ///       the hour-key TTL; hour keys have none, `MergeScript.counterKeyFunctions`), [4] log
    ///       MAXLEN (0 = none), [5] index in KEYS of the first hour key, [6] m; per written
    ///       ticket 2 items: the bytes expected (empty: absent; a stored ticket is never
    ///       empty) and the new bytes; then per compared ticket the bytes expected; then the
    ///       change-log entry (the accepted events' lines joined by '\n', `ChangeLogEntry`;
    ///       empty: none); then the hot index (`HotIndex`; tickets new to it, and those whose
    ///       updated_at moved to an earlier hour): nb, the count key's index in KEYS, and per
    ///       bucket its key's index in KEYS, its number, its least score, c, and c (score, id)
    ///       pairs (`ZADD LT` to the bucket, the least score `ZADD LT` to the directory, the
    ///       tickets new to the buckets `INCRBY` to the count); a and a ids that
    ///       join the incomplete set; r and r ids that leave it; o and o ids that join the
    ///       reopened set (tickets restored from the cold tier); then the counters: gh, the gh
    ///       hours of the hour keys with counts of their own as gh (hour, hour) pairs (their
    ///       `ZADD NX` to the hour index), and per such hour key, in KEYS order from [5], c and
    ///       c (field, increment) pairs; then gm, and per minute key, in KEYS order, its
    ///       hour's index in KEYS, c, and c (field, increment) pairs. A minute's counts go to
    ///       its minute key, and to its hour too when the minute was already folded
    ///       (`MinuteFold`: a late event).
    /// The hot index and incomplete-set lists go to their commands as they are (`unpack`, no
    ///       Lua loop); a new hour key gets all its fields in one `HSET` (the daemon sends each
    ///       field once), an hour key that exists and a minute key one `HINCRBY` per field. The
    ///       hour index lists exactly the hours that have a key (every writer of an hour key
    ///       indexes it in the same script; the compactor renames a key away and unindexes it
    ///       in one), so the `ZADD NX` of a call's hours says at once whether all of them are
    ///       new (the replay: no `EXISTS` at all), none (live traffic), or some (an `EXISTS`
    ///       each). No argument goes through a Lua number on its way (a number is printed back
    ///       with `%.17g`), and a count is read with `+ 0` (one `strtod`; `tonumber` makes two):
    ///       a command called from Lua costs about a microsecond of its own, and an argument a
    ///       fraction of one (docs/hot-tier.md, "The write script").
    /// Reply: an empty array when applied; else the 1-based numbers (written tickets first,
    ///       then compared ones) of the tickets that changed, and nothing was written.
    static let source = #"""
local n, m = ARGV[1] + 0, ARGV[6] + 0
-- ARGV[2], the minute retention, is for MinuteFold: a minute gets it when it is folded.
-- ARGV[3] is reserved (it was the hour-key TTL; hour keys have none).
local maxlen, firstHour = ARGV[4] + 0, ARGV[5] + 0
local CHUNK = 500
\#(MergeScript.counterKeyFunctions)
\#(MergeScript.logAppend)
-- 1. Compare: every ticket as the merge found it (one MGET per 500 tickets).
local stale = {}
for base = 0, n + m - 1, CHUNK do
  local last = math.min(base + CHUNK, n + m)
  local cur = redis.call('MGET', unpack(KEYS, 6 + base, 5 + last))
  for i = base + 1, last do
    local expected
    if i <= n then expected = ARGV[5 + 2 * i] else expected = ARGV[6 + n + i] end
    if (cur[i - base] or '') ~= expected then stale[#stale + 1] = i end
  end
end
if #stale > 0 then return stale end
-- 2. Write: the tickets (MSET, 500 at a time).
for base = 0, n - 1, CHUNK do
  local kv, k = {}, 0
  for i = base + 1, math.min(base + CHUNK, n) do kv[k + 1] = KEYS[5 + i]; kv[k + 2] = ARGV[6 + 2 * i]; k = k + 2 end
  redis.call('MSET', unpack(kv, 1, k))
end
local p = 7 + 2 * n + m
-- 3. The change log: one entry for the call, its accepted events' lines.
local entry = ARGV[p]; p = p + 1
-- A call that changes tickets and logs nothing (a restore, a repeat that still won a
-- field) deletes the compactor's mark: the log's last id alone no longer says "unchanged".
if #entry > 0 then appendLogEntry(entry) elseif n > 0 then redis.call('DEL', KEYS[#KEYS]) end
-- 4. The hot index and the incomplete set: the lists as they came, 1,000 arguments a call.
-- The hot index only lowers a score (LT: a score stays at most the hour of updated_at), in
-- the bucket and in the directory (which so keeps each bucket's least score).
local function spread(command, flag, key, from, count)
  local sum = 0
  for base = from, from + count - 1, 1000 do
    if flag then sum = sum + redis.call(command, key, flag, unpack(ARGV, base, math.min(base + 999, from + count - 1)))
    else sum = sum + redis.call(command, key, unpack(ARGV, base, math.min(base + 999, from + count - 1))) end
  end
  return sum
end
local nb, countKey = ARGV[p] + 0, ARGV[p + 1] + 0; p = p + 2
local added, least = 0, {}
for j = 1, nb do
  local c = ARGV[p + 3] + 0
  added = added + spread('ZADD', 'LT', KEYS[ARGV[p] + 0], p + 4, 2 * c)
  least[#least + 1] = ARGV[p + 2]; least[#least + 1] = ARGV[p + 1]
  p = p + 4 + 2 * c
end
-- Each bucket's least score into the directory: one ZADD for all of them (a command called
-- from Lua costs about a microsecond of its own; a replay's call scores in a dozen buckets).
for base = 1, #least, 1000 do redis.call('ZADD', KEYS[2], 'LT', unpack(least, base, math.min(base + 999, #least))) end
if added > 0 then redis.call('INCRBY', KEYS[countKey], added) end
local a = ARGV[p] + 0; spread('SADD', nil, KEYS[4], p + 1, a); p = p + 1 + a
local r = ARGV[p] + 0; spread('SREM', nil, KEYS[4], p + 1, r); p = p + 1 + r
-- Tickets restored from the cold tier join the reopened set, with their restore: the
-- compactor supersedes their older cold rows when it moves them again.
local o = ARGV[p] + 0; spread('SADD', nil, KEYS[#KEYS - 1], p + 1, o); p = p + 1 + o
-- 5. The counters. A new hour key gets its fields in one HSET (a replayed history makes one
-- for about every second event), a key that exists one HINCRBY per field.
local function addCounts(key, new, from, c)
  if new then
    for base = from, from + 2 * c - 1, 1000 do redis.call('HSET', key, unpack(ARGV, base, math.min(base + 999, from + 2 * c - 1))) end
  else
    for q = from, from + 2 * c - 1, 2 do redis.call('HINCRBY', key, ARGV[q], ARGV[q + 1]) end
  end
end
-- Hour keys with counts of their own, first (a late minute below may add to them). The hour
-- index lists exactly the hours that have a key, so one ZADD NX of their hours says whether
-- all are new, none, or some (then an EXISTS each).
local gh = ARGV[p] + 0; p = p + 1
local fresh = gh > 0 and spread('ZADD', 'NX', KEYS[3], p, 2 * gh) or 0
p = p + 2 * gh
for j = 1, gh do
  local key, c = KEYS[firstHour + j - 1], ARGV[p] + 0
  local new = fresh == gh
  if fresh > 0 and fresh < gh then new = redis.call('EXISTS', key) == 0 end
  addCounts(key, new, p + 1, c)
  p = p + 1 + 2 * c
end
-- Minute keys; a minute already folded counts in its hour too.
local gm = ARGV[p] + 0; p = p + 1
for j = 1, gm do
  local ki, hi, c = 5 + n + m + j, ARGV[p] + 0, ARGV[p + 1] + 0
  local folded = minuteFolded(ki)
  addCounts(KEYS[ki], false, p + 2, c)
  if folded then
    local hourKey = KEYS[hi]
    if redis.call('EXISTS', hourKey) == 0 then addCounts(hourKey, true, p + 2, c); indexNewHour(hi)
    else addCounts(hourKey, false, p + 2, c) end
  end
  p = p + 2 + 2 * c
end
indexFreshHours()
return {}
"""#
}

import StrataCore

/// The merge script: applies a batch of events to the tickets of one shard, atomically.
///
/// Per field, the value of the event with the greatest stamp (lamport, writer) wins,
/// writers compared as byte strings; the ticket's vector is the pointwise maximum of all
/// vectors seen (the workload contract, docs/workload.md). Each event is identified by
/// its dot (writer, vv[writer]): the writer's own counter, which it raised by one. An
/// event is *accepted* when its dot is new; only accepted events are logged and
/// counted, so a repeated event changes nothing, and a late one (a create delivered
/// after the patch that followed it) still counts once.
///
/// KEYS: [1] change log stream, [2] hot index directory (zset bucket -> its least score,
///       `HotIndex`), [3] hour index (zset of the hours that have counters), [4] incomplete
///       set (ids of tickets that lack a required column: patches whose create has not
///       arrived), [5] open minutes (zset of the minutes whose counts are not yet in their
///       hour), [6] hot index count, [7] the shard's compaction mark (deleted by a call that
///       saves tickets and logs nothing, `KeyLayout.compactionMark`), [8] the shard's reopened
///       set (tickets restored from the cold tier, `KeyLayout.reopened`), then the ticket keys,
///       then the metric keys (minute and hour hashes), then the hot index bucket keys of
///       this batch.
/// ARGV: [1] event count, [2] minute retention s (after the minute ends), [3] reserved, 0 (it
///       was the hour-key TTL; hour keys have none now),
///       [4] log MAXLEN (0 = none), [5] index in KEYS of the first hour key, then per event:
///       ticket key index, id, writer, lamport, at (ms), op (c|p),
///       minute key index (0: the minute is past its retention: counted in its hour), hour key
///       index, hot index bucket key index, vv entry count, (writer, count)...,
///       field count, (field index 1-based, value)... where a value is "n" (null),
///       "i<decimal>" or "s<bytes>". Ops: c/p create/patch; C/P the same when the daemon
///       has a cold tier (answer 2 for an absent ticket); b a base (a cold row without
///       merge state, stamped at its version); r a restore: the writer slot carries the
///       cold merge state (`MergeState`), the fields the cold row's values.
/// Ticket value: one flat msgpack array (one Lua table to build, the cheapest shape):
///       [1..F] values (false = null, F = the 17 columns of `Tables.tickets`), [F+1..2F]
///       stamps (lamport*64 + writer index, 0 = never set), [2F+1] writer count n, then n triples (writer, vector count, prefix:
///       every counter 1..prefix of that writer has been seen), then the other seen dots,
///       each counter*64 + writer index.
/// Change log: one entry per call (none when it accepts nothing), its field `e` the lines of
///       the accepted events in order, separated by '\n', each id|at|writer|lamport|fields|status
///       before|status after|agent before|agent after (fields comma-separated; empty = none;
///       `ChangeLogEntry`). Reply: one integer per event:
///       1 accepted, 0 nothing new (a repeat or an already-known vector), -1 refused
///       (the ticket would have more than 63 writers), -2 refused (the ticket holds
///       `maxPendingDots` events that arrived before the ones they follow).
enum MergeScript {
    /// The ticket's columns, from `Tables` (the script is generated from it, so the two cannot
    /// diverge; `MergeScriptSchemaTests` checks the generated text).
    static let fieldCount = Tables.tickets.columns.count
    static func position(_ column: String) -> Int {
        guard let i = Tables.tickets.index(of: column) else { preconditionFailure("no column \(column) in Tables.tickets") }
        return i + 1
    }
    static let positions = ["status", "agent_id", "created_at", "updated_at", "first_response_at", "solved_at", "channel",
                            "priority", "queue", "satisfaction", "reopen_count"].map(position).map(String.init).joined(separator: ", ")
    static let names = Tables.tickets.columns.map { "\"\($0.name)\"" }.joined(separator: ",")
    /// Dots a ticket may hold above its writers' contiguous prefixes (events that arrived
    /// before ones they follow); past it an event that would add one is refused (-2).
    static let maxPendingDots = HotTierLimits.maxPendingDotsPerTicket
    /// 1-based positions of the columns a ticket must have to be shown by SQL (not
    /// nullable; `id` and `version` are never missing).
    static let requiredPositions: [Int] = Tables.tickets.columns.enumerated().compactMap { i, c in
        c.nullable || c.name == Tables.tickets.idColumn || c.name == "version" ? nil : i + 1
    }
    /// An hour key just made (its first field set) takes its place in the hour index
    /// (gathered, then one `ZADD` for the call: `indexFreshHours()` at the end). An hour key
    /// has no TTL: it stays until the compactor moves it to `ticket_metrics` (an expiry would
    /// lose its counts if no compactor ran for that long, and one `EXPIRE` per new key was
    /// a tenth of the replay's Redis time, docs/benchmarks.md). A minute key gets its
    /// retention when it is folded into its hour (`MinuteFold`). And `minuteFolded`: whether
    /// a minute's counts already went to its hour (a late event then counts in the hour
    /// too); a minute seen for the first time opens (KEYS[5], the open minutes). Shared by
    /// the merge script and the write script.
    static let counterKeyFunctions = """
    local freshHours, hourPrefix = {}, nil
    local function indexNewHour(keyIndex)
      local key = KEYS[keyIndex]
      -- The hour index tells the compactor which hours exist, without a SCAN. A call's hour
      -- keys are of one shard, so they share everything before the hour: matched once.
      local hour
      if hourPrefix then hour = string.sub(key, hourPrefix + 1) else
        hour = string.match(key, ':h:(%-?%d+)$')
        hourPrefix = #key - #hour
      end
      freshHours[#freshHours + 1] = hour
      freshHours[#freshHours + 1] = hour
    end
    local function indexFreshHours()
      for base = 1, #freshHours, 1000 do
        redis.call('ZADD', KEYS[3], unpack(freshHours, base, math.min(base + 999, #freshHours)))
      end
    end
    local function minuteFolded(keyIndex)
      local key = KEYS[keyIndex]
      local minute = string.match(key, ':m:(%-?%d+)$')
      if redis.call('ZSCORE', KEYS[5], minute) then return false end
      if redis.call('EXISTS', key) == 1 then return true end
      redis.call('ZADD', KEYS[5], minute, minute)
      return false
    end
    """

    /// A ticket's hot index score (`KeyLayout.hotIndexScore`): the hour of its updated_at
    /// `v`; a string (the digits of an integer a double cannot hold) as its number. Nil for null.
    static let indexScoreFunction = """
    local function indexScore(v)
      if type(v) == 'number' then return v - v % \(KeyLayout.hotIndexResolutionMs) end
      return v and tonumber(v)
    end
    """

    /// The call's one change-log entry (`ChangeLogEntry`: its accepted events' lines),
    /// trimmed to about `maxlen` entries when set. Shared by both scripts, which define
    /// `maxlen` before it.
    static let logAppend = """
    local function appendLogEntry(entry)
      if maxlen > 0 then
        redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'e', entry)
      else
        redis.call('XADD', KEYS[1], '*', 'e', entry)
      end
    end
    """

    static let source = #"""
local F = \#(fieldCount)
local MAXPENDING = \#(maxPendingDots)
local REQUIRED = {\#(requiredPositions.map(String.init).joined(separator: ","))}
local STATUS, AGENT, CREATED, UPDATED, FIRST, SOLVED, CHANNEL, PRIORITY, QUEUE, CSAT, REOPEN = \#(positions)
local NAMES = {\#(names)}
local nev = tonumber(ARGV[1])
-- ARGV[2], the minute retention, is for MinuteFold: a minute gets it when it is folded.
-- ARGV[3] is reserved (it was the hour-key TTL; hour keys have none).
local maxlen, firstHour = tonumber(ARGV[4]), tonumber(ARGV[5])
\#(counterKeyFunctions)
\#(logAppend)
local cache, dirty, order = {}, {}, {}
local counters = {}
local logLines = {}  -- one change-log line per accepted event; one entry for the call
local out = {}
local reopened = {}  -- tickets restored from the cold tier by this call
local p = 6

local function greater(w1, w2)  -- byte-wise, whatever the server's locale
  local n1, n2 = #w1, #w2
  for i = 1, math.min(n1, n2) do
    local a, b = string.byte(w1, i), string.byte(w2, i)
    if a ~= b then return a > b end
  end
  return n1 > n2
end

-- An integer as its decimal digits: Lua's tostring prints numbers of 15 digits or more
-- as 1.2345678901234e+14, which the change log's readers cannot take back.
local function digits(v)
  if type(v) == 'number' then return string.format('%d', v) end
  return tostring(v)
end

local hourOf = {}  -- minute key index -> its hour's
-- An event counts in its minute (folded into the hour when the minute closes, `MinuteFold`),
-- or, when the minute is past its retention, in its hour.
local function tally(mk, hk, field)
  local keyIndex = mk
  if mk == 0 then keyIndex = hk else hourOf[mk] = hk end
  local c = counters[keyIndex]
  if not c then c = {}; counters[keyIndex] = c end
  c[field] = (c[field] or 0) + 1
end

-- A ticket in memory: t = the flat array (values and stamps in place), W/C/P/X unpacked.
-- X, the seen dots above each writer's prefix, is a set (X.s[dot] = true) with its size X.n:
-- a lookup costs the same however many there are (at most MAXPENDING per ticket).
local function unpackTicket(blob)
  local t, W, C, P, X = cmsgpack.unpack(blob), {}, {}, {}, {s = {}, n = 0}
  local n = t[2 * F + 1]
  local q = 2 * F + 2
  for j = 1, n do W[j] = t[q]; C[j] = t[q + 1]; P[j] = t[q + 2]; q = q + 3 end
  while t[q] do X.s[t[q]] = true; X.n = X.n + 1; t[q] = nil; q = q + 1 end
  return t, W, C, P, X
end

-- Whether a ticket lacks a required column (its create has not arrived).
local function incomplete(t)
  for _, c in ipairs(REQUIRED) do if t[F + c] == 0 then return true end end
  return false
end

\#(indexScoreFunction)

local function load(key)
  local e = cache[key]
  if e then return e end
  local blob = redis.call('GET', key)
  local t, W, C, P, X = nil, {}, {}, {}, {s = {}, n = 0}
  if blob then
    t, W, C, P, X = unpackTicket(blob)
  else
    t = {}
    for i = 1, F do t[i] = false; t[F + i] = 0 end
  end
  e = {t, W, C, P, X, not blob, blob and incomplete(t), blob and indexScore(t[UPDATED])}
  cache[key] = e
  order[#order + 1] = key
  return e
end

local function save(key, e)
  local t, W, C, P, X = e[1], e[2], e[3], e[4], e[5]
  t[2 * F + 1] = #W
  local q = 2 * F + 2
  for j = 1, #W do t[q] = W[j]; t[q + 1] = C[j]; t[q + 2] = P[j]; q = q + 3 end
  local dots = {}
  for dot in pairs(X.s) do dots[#dots + 1] = dot end
  table.sort(dots)
  for j = 1, #dots do t[q] = dots[j]; q = q + 1 end
  redis.call('SET', key, cmsgpack.pack(t))
  local id = string.match(key, ':t:(.*)$')
  if incomplete(t) then redis.call('SADD', KEYS[4], id)
  elseif e[7] then redis.call('SREM', KEYS[4], id) end
  -- The hot index: at most the hour of updated_at. Lowered (LT) when updated_at moves to an
  -- earlier hour than the stored one, or set for a ticket new to it; never raised here (the
  -- compactor raises a score it finds behind: HotIndexRescore). The directory keeps the
  -- bucket's least score (LT too); the count, the tickets in the index.
  local score = indexScore(t[UPDATED])
  if score and (type(t[UPDATED]) ~= 'number' or not e[8] or score < e[8]) then
    local bucket = KEYS[e[9]]
    if redis.call('ZADD', bucket, 'LT', score, id) == 1 then redis.call('INCR', KEYS[6]) end
    redis.call('ZADD', KEYS[2], 'LT', score, string.match(bucket, ':ix:(%-?%d+)$'))
  end
end

local function decode(v)
  local kind = string.sub(v, 1, 1)
  if kind == 'n' then return false end
  local s = string.sub(v, 2)
  if kind == 'i' then
    local n = tonumber(s)
    if n and n < 9007199254740992 and n > -9007199254740992 then return n end
  end
  return s
end

local function process(e)
  local key = KEYS[tonumber(ARGV[p])]
  local id, writer, lam, at = ARGV[p + 1], ARGV[p + 2], tonumber(ARGV[p + 3]), ARGV[p + 4]
  local mk, hk = tonumber(ARGV[p + 6]), tonumber(ARGV[p + 7])
  local nvv = tonumber(ARGV[p + 9])
  local op = ARGV[p + 5]
  local entry = load(key)
  entry[9] = tonumber(ARGV[p + 8])
  if (op == 'r' or op == 'b') and entry[6] and not dirty[key] then reopened[#reopened + 1] = id end
  p = p + 10
  if op == 'r' then
    -- Restore from the cold tier's merge state (carried in the writer slot), with the
    -- cold row's values put back; only if the ticket is absent, else it already has it.
    p = p + 2 * nvv
    local nf = tonumber(ARGV[p]); p = p + 1
    if entry[6] and not dirty[key] then
      local t, W, C, P, X = unpackTicket(writer)
      for k = 0, nf - 1 do
        local fi = tonumber(ARGV[p + 2 * k])
        if t[F + fi] ~= 0 then t[fi] = decode(ARGV[p + 2 * k + 1]) end
      end
      entry[1], entry[2], entry[3], entry[4], entry[5] = t, W, C, P, X
      dirty[key] = true
    end
    p = p + 2 * nf
    out[e] = 0
    return
  end
  local T, W, C, P, X = entry[1], entry[2], entry[3], entry[4], entry[5]
  -- C/P: the daemon has a cold tier; a ticket absent here may live there. Answer 2 and
  -- change nothing, so that the daemon folds the cold state in first (docs/tiering.md).
  if (op == 'C' or op == 'P') and entry[6] and not dirty[key] then
    out[e] = 2
    p = p + 2 * nvv
    p = p + 1 + 2 * tonumber(ARGV[p])
    return
  end
  -- A ticket keeps at most 63 writers (stamps hold the writer's index in 6 bits):
  -- an event that would pass the limit is refused whole, before anything changes.
  local fresh = 0
  for k = 0, nvv - 1 do
    local w, known = ARGV[p + 2 * k], false
    for j = 1, #W do if W[j] == w then known = true; break end end
    if not known then fresh = fresh + 1 end
  end
  if #W + fresh > 63 then
    out[e] = -1
    p = p + 2 * nvv
    p = p + 1 + 2 * tonumber(ARGV[p])
    return
  end
  -- A ticket holds at most MAXPENDING dots that came before the ones they follow (a gap in
  -- a writer's counters). An event that would need one more is refused whole: a writer that
  -- skips counters for good cannot grow a ticket without bound.
  if X.n >= MAXPENDING then
    local own, idx = 0, nil
    for k = 0, nvv - 1 do if ARGV[p + 2 * k] == writer then own = tonumber(ARGV[p + 2 * k + 1]) end end
    for j = 1, #W do if W[j] == writer then idx = j; break end end
    local prefix = idx and P[idx] or 0
    if own > prefix + 1 and not (idx and X.s[own * 64 + idx - 1]) then
      out[e] = -2
      p = p + 2 * nvv
      p = p + 1 + 2 * tonumber(ARGV[p])
      return
    end
  end
  local wi, own = -1, 0
  for k = 1, nvv do
    local w, c = ARGV[p], tonumber(ARGV[p + 1])
    p = p + 2
    local idx = nil
    for j = 1, #W do if W[j] == w then idx = j; break end end
    if not idx then idx = #W + 1; W[idx] = w; C[idx] = 0; P[idx] = 0 end
    if c > C[idx] then C[idx] = c end
    if w == writer then wi = idx - 1; own = c end
  end
  -- Is the event's dot (writer, own counter) new?
  local accepted = own > P[wi + 1]
  if accepted then
    local dot = own * 64 + wi
    if X.s[dot] then accepted = false end
    if accepted then
      if own == P[wi + 1] + 1 then
        P[wi + 1] = own
        -- Fold in the dots that were waiting for this one.
        local nextDot = (own + 1) * 64 + wi
        while X.s[nextDot] do
          X.s[nextDot] = nil
          X.n = X.n - 1
          P[wi + 1] = P[wi + 1] + 1
          nextDot = nextDot + 64
        end
      else
        X.s[dot] = true
        X.n = X.n + 1
      end
    end
  end
  local nf = tonumber(ARGV[p]); p = p + 1
  local b1, b2, b3, b4, b5, b6, b7 = T[STATUS], T[AGENT], T[FIRST], T[SOLVED], T[REOPEN], T[CSAT], T[F + CREATED]
  local stamp = lam * 64 + wi
  local names = {}
  local changed = false
  local statusAfter, agentAfter = '', ''
  for k = 1, nf do
    local fi, raw = tonumber(ARGV[p]), ARGV[p + 1]
    p = p + 2
    names[k] = NAMES[fi]
    local old = T[F + fi]
    local win = old == 0
    if not win then
      local oldLam = math.floor(old / 64)
      if lam > oldLam then win = true
      elseif lam == oldLam then win = greater(writer, W[old % 64 + 1]) end
    end
    if win then T[fi] = decode(raw); T[F + fi] = stamp; changed = true end
    if fi == STATUS then statusAfter = T[STATUS] or '' end
    if fi == AGENT then agentAfter = T[AGENT] or '' end
  end
  if accepted or changed then dirty[key] = true end
  if not accepted then out[e] = 0; return end
  out[e] = 1
  local logged = id .. '|' .. at .. '|' .. writer .. '|' .. digits(lam) .. '|' .. table.concat(names, ',') .. '|' ..
    tostring(b1 or '') .. '|' .. tostring(statusAfter) .. '|' .. digits(b2 or '') .. '|' .. digits(agentAfter)
  logLines[#logLines + 1] = logged
  if b7 == 0 and T[F + CREATED] ~= 0 then
    local f = 'created:' .. tostring(T[CHANNEL]) .. ':' .. tostring(T[PRIORITY]) .. ':' .. tostring(T[QUEUE])
    tally(mk, hk, f)
  end
  local st = T[STATUS]
  if st ~= b1 and st then
    local f = 'status:' .. tostring(b1 or 'none') .. ':' .. st
    tally(mk, hk, f)
  end
  if not b3 and T[FIRST] then tally(mk, hk, 'first_response') end
  if T[SOLVED] and T[SOLVED] ~= b4 then tally(mk, hk, 'solved') end
  if T[REOPEN] and b5 and tonumber(T[REOPEN]) > tonumber(b5) then tally(mk, hk, 'reopened') end
  if T[CSAT] and T[CSAT] ~= b6 then local f = 'csat:' .. tostring(T[CSAT]); tally(mk, hk, f) end
end

for e = 1, nev do process(e) end
if #logLines > 0 then appendLogEntry(table.concat(logLines, '\n')) end

local saved = false
for _, key in ipairs(order) do
  if dirty[key] then save(key, cache[key]); saved = true end
end
-- Tickets changed and nothing logged (a restore, a repeat that still won a field): the
-- compactor's mark goes, as the log's last id alone no longer says "unchanged".
if saved and #logLines == 0 then redis.call('DEL', KEYS[7]) end
-- Restored tickets join the reopened set with their restore: the compactor supersedes their
-- older cold rows when it moves them again (docs/tiering.md, "A ticket coming back").
if #reopened > 0 then redis.call('SADD', KEYS[8], unpack(reopened)) end
for keyIndex, c in pairs(counters) do
  -- A minute already folded into its hour (a late event): its hour counts too.
  local targets = {keyIndex}
  if hourOf[keyIndex] and minuteFolded(keyIndex) then targets[2] = hourOf[keyIndex] end
  for _, t in ipairs(targets) do
    local key = KEYS[t]
    local fresh = false
    for f, n in pairs(c) do
      if redis.call('HINCRBY', key, f, n) == n then fresh = true end
    end
    -- A new key necessarily gets a new field: a new hour joins the hour index.
    if fresh and t >= firstHour then indexNewHour(t) end
  end
end
indexFreshHours()
return out
"""#
}

/// The merge script: applies a batch of events to the tickets of one shard, atomically.
///
/// Per field, the value of the event with the greatest stamp (lamport, writer) wins,
/// writers compared as byte strings; the ticket's vector is the pointwise maximum of all
/// vectors seen (the contract of ../shared/bench/README.md). Each event is identified by
/// its dot (writer, vv[writer]): the writer's own counter, which it raised by one. An
/// event is *accepted* when its dot is new; only accepted events are logged and
/// counted, so a repeated event changes nothing, and a late one (a create delivered
/// after the patch that followed it) still counts once.
///
/// KEYS: [1] change log stream, [2] hot index (zset id -> updated_at), then the ticket
///       keys, then the metric keys (minute and hour hashes) of this batch.
/// ARGV: [1] event count, [2] minute-key TTL s, [3] hour-key TTL s, [4] log MAXLEN (0 = none),
///       [5] index in KEYS of the first hour key, then per event: ticket key index, id, writer, lamport, at (ms), op (c|p),
///       minute key index, hour key index, vv entry count, (writer, count)...,
///       field count, (field index 1-based, value)... where a value is "n" (null),
///       "i<decimal>" or "s<bytes>".
/// Ticket value: msgpack [writers[], counts[], values[17], stamps[17], prefix[], extra[]]:
///       stamp = lamport*64 + writer index (0 = never set), value false = null; prefix[w]
///       = every counter 1..prefix[w] of writer w has been seen; extra = other seen dots,
///       each counter*64 + writer index. Reply: one integer per event:
///       1 accepted, 0 nothing new (a repeat or an already-known vector), -1 refused
///       (the ticket would have more than 63 writers).
enum MergeScript {
    static let fieldCount = 17
    static let source = #"""
local F = 17
local STATUS, AGENT, CREATED, UPDATED, FIRST, SOLVED, CHANNEL, PRIORITY, QUEUE, CSAT, REOPEN = 7, 11, 2, 3, 4, 5, 9, 8, 10, 15, 16
local NAMES = {"id","created_at","updated_at","first_response_at","solved_at","closed_at","status","priority",
  "channel","queue","agent_id","customer_id","subject","tags","satisfaction","reopen_count","version"}
local nev = tonumber(ARGV[1])
local minuteTTL, hourTTL, maxlen, firstHour = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local cache, dirty, order = {}, {}, {}
local counters = {}
local out = {}
local p = 6

local function greater(w1, w2)  -- byte-wise, whatever the server's locale
  local n1, n2 = #w1, #w2
  for i = 1, math.min(n1, n2) do
    local a, b = string.byte(w1, i), string.byte(w2, i)
    if a ~= b then return a > b end
  end
  return n1 > n2
end

local function count(keyIndex, field)
  local c = counters[keyIndex]
  if not c then c = {}; counters[keyIndex] = c end
  c[field] = (c[field] or 0) + 1
end

local function load(key)
  local t = cache[key]
  if t then return t end
  local blob = redis.call('GET', key)
  if blob then t = cmsgpack.unpack(blob) else
    t = {{}, {}, {}, {}, {}, {}}
    for i = 1, F do t[3][i] = false; t[4][i] = 0 end
  end
  cache[key] = t
  order[#order + 1] = key
  return t
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
  local id, writer, lam, at, op = ARGV[p + 1], ARGV[p + 2], tonumber(ARGV[p + 3]), ARGV[p + 4], ARGV[p + 5]
  local mk, hk = tonumber(ARGV[p + 6]), tonumber(ARGV[p + 7])
  local nvv = tonumber(ARGV[p + 8])
  p = p + 9
  local t = load(key)
  local W, C, V, S = t[1], t[2], t[3], t[4]
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
  local P, X = t[5], t[6]
  local wi, own = -1, 0
  for k = 1, nvv do
    local w, c = ARGV[p], tonumber(ARGV[p + 1])
    p = p + 2
    local idx = nil
    for j = 1, #W do if W[j] == w then idx = j; break end end
    if not idx then W[#W + 1] = w; C[#W] = 0; P[#W] = 0; idx = #W end
    if c > C[idx] then C[idx] = c end
    if w == writer then wi = idx - 1; own = c end
  end
  -- Is the event's dot (writer, own counter) new?
  local accepted = own > P[wi + 1]
  if accepted then
    local dot = own * 64 + wi
    for j = 1, #X do if X[j] == dot then accepted = false; break end end
    if accepted then
      if own == P[wi + 1] + 1 then
        P[wi + 1] = own
        local moved = true
        while moved do
          moved = false
          local nextDot = (P[wi + 1] + 1) * 64 + wi
          for j = 1, #X do
            if X[j] == nextDot then table.remove(X, j); P[wi + 1] = P[wi + 1] + 1; moved = true; break end
          end
        end
      else
        X[#X + 1] = dot
      end
    end
  end
  local nf = tonumber(ARGV[p]); p = p + 1
  local before = {V[STATUS], V[AGENT], V[FIRST], V[SOLVED], V[REOPEN], V[CSAT], S[CREATED]}
  local stamp = lam * 64 + wi
  local names = {}
  local changed = false
  for k = 1, nf do
    local fi, raw = tonumber(ARGV[p]), ARGV[p + 1]
    p = p + 2
    names[#names + 1] = NAMES[fi]
    local old = S[fi]
    local win = old == 0
    if not win then
      local oldLam = math.floor(old / 64)
      if lam > oldLam then win = true
      elseif lam == oldLam then win = greater(writer, W[old % 64 + 1]) end
    end
    if win then V[fi] = decode(raw); S[fi] = stamp; changed = true end
  end
  if accepted or changed then dirty[key] = true end
  if accepted then
    out[e] = 1
    local statusAfter, agentAfter = '', ''
    for k = 1, #names do
      if names[k] == 'status' then statusAfter = V[STATUS] or '' end
      if names[k] == 'agent_id' then agentAfter = V[AGENT] or '' end
    end
    local entry = {'i', id, 'a', at, 'w', writer, 'l', lam, 'f', table.concat(names, ','),
      's0', before[1] or '', 's1', statusAfter, 'g0', before[2] or '', 'g1', agentAfter}
    if maxlen > 0 then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', unpack(entry))
    else
      redis.call('XADD', KEYS[1], '*', unpack(entry))
    end
    if V[UPDATED] then redis.call('ZADD', KEYS[2], tonumber(V[UPDATED]), id) end
    if before[7] == 0 and S[CREATED] ~= 0 then
      local f = 'created:' .. tostring(V[CHANNEL]) .. ':' .. tostring(V[PRIORITY]) .. ':' .. tostring(V[QUEUE])
      count(mk, f); count(hk, f)
    end
    if V[STATUS] ~= before[1] and V[STATUS] then
      local f = 'status:' .. tostring(before[1] or 'none') .. ':' .. V[STATUS]
      count(mk, f); count(hk, f)
    end
    if not before[3] and V[FIRST] then count(mk, 'first_response'); count(hk, 'first_response') end
    if V[SOLVED] and V[SOLVED] ~= before[4] then count(mk, 'solved'); count(hk, 'solved') end
    if V[REOPEN] and before[5] and tonumber(V[REOPEN]) > tonumber(before[5]) then count(mk, 'reopened'); count(hk, 'reopened') end
    if V[CSAT] and V[CSAT] ~= before[6] then local f = 'csat:' .. tostring(V[CSAT]); count(mk, f); count(hk, f) end
  else
    out[e] = 0
  end
end

for e = 1, nev do process(e) end

for _, key in ipairs(order) do
  if dirty[key] then redis.call('SET', key, cmsgpack.pack(cache[key])) end
end
for keyIndex, c in pairs(counters) do
  local key = KEYS[keyIndex]
  for f, n in pairs(c) do redis.call('HINCRBY', key, f, n) end
  redis.call('EXPIRE', key, keyIndex >= firstHour and hourTTL or minuteTTL)
end
return out
"""#
}

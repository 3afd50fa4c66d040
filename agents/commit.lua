-- Apply one batch atomically: account states (with a version check per account), transaction
-- records, partition event-time high-water marks, the hold index and the outbox entries.
-- Nothing is written if any account's version moved since the batch read it: another agent or a
-- worker that now owns the partition wrote it, and the batch must be recomputed.
-- KEYS: accounts..., new tx records..., other tx records..., tx-index keys (one per partition)...,
--       (event-time, legacy tx-index, tx-index) triples..., hold-index keys..., fan-in keys...,
--       outbox keys..., outbox keys of the entries to drop...
-- ARGV: see agents/store.py (_commit_args), sections in the same order as KEYS.
local ai, ki = 1, 1
-- Accounts: per account the version the batch read and the value to store ("<version + 1>|"
-- and the state, streams/accounts.py). One MGET to check them all and one MSET to write them,
-- in chunks that keep unpack() under Lua's stack limit.
local n = tonumber(ARGV[ai]); ai = ai + 1
for first = 0, n - 1, 1000 do
  local values = redis.call('MGET', unpack(KEYS, ki + first, ki + math.min(first + 999, n - 1)))
  for j = 1, #values do
    local i = first + j - 1
    local seen = values[j] and string.match(values[j], '^(%d+)|') or '0'
    if seen ~= ARGV[ai + 2 * i] then
      return {'conflict', KEYS[ki + i], seen, ARGV[ai + 2 * i]}
    end
  end
end
-- A transaction record this batch creates must not have been created meanwhile for another
-- body: the same tx_id can reach two partitions (different source accounts), whose batches
-- share no account to conflict on. Nearly always none of them exists: one EXISTS per chunk says
-- so, and only a chunk where some exist is checked record by record.
do
  local aj = ai + 2 * n
  local kj = ki + n
  local created, hashes = {}, {}
  local new = tonumber(ARGV[aj]); aj = aj + 1
  for i = 0, new - 1 do
    created[#created + 1] = KEYS[kj + i]
    hashes[#hashes + 1] = ARGV[aj + 2 * i]
  end
  kj = kj + new; aj = aj + 2 * new + 2
  for i = 0, tonumber(ARGV[aj - 2]) - 1 do
    local fields = tonumber(ARGV[aj + 1]); aj = aj + 2
    for _ = 1, fields do
      if ARGV[aj] == 'h' then
        created[#created + 1] = KEYS[kj + i]
        hashes[#hashes + 1] = ARGV[aj + 1]
      end
      aj = aj + 2
    end
  end
  for first = 1, #created, 1000 do
    local last = math.min(first + 999, #created)
    if redis.call('EXISTS', unpack(created, first, last)) > 0 then
      for i = first, last do
        local seen = redis.call('HGET', created[i], 'h')
        if seen and seen ~= hashes[i] then
          return {'conflict', created[i], seen, hashes[i]}
        end
      end
    end
  end
end
for first = 0, n - 1, 500 do
  local pairs_kv = {}
  for i = first, math.min(first + 499, n - 1) do
    pairs_kv[#pairs_kv + 1] = KEYS[ki + i]
    pairs_kv[#pairs_kv + 1] = ARGV[ai + 2 * i + 1]
  end
  redis.call('MSET', unpack(pairs_kv))
end
ki = ki + n; ai = ai + 2 * n

-- Transaction records live as long as their partition's event-time window (pruned below), not
-- on a wall clock. Only records outside that index get a TTL: ones settle created without the
-- authorize fields, and held ones resolved after the window passed them ('k' marks those).
-- First the records this batch creates and indexes with their two usual fields alone (nearly
-- every one): per record its hash and status, the field names implied. Each string in ARGV is
-- one Lua interns (the largest part of the scripts' own cost, docs/benchmarks.md 2026-12-05),
-- and these records took seven each where two say the same.
local new = tonumber(ARGV[ai]); ai = ai + 1
for i = 0, new - 1 do
  redis.call('HSET', KEYS[ki + i], 'h', ARGV[ai], 's', ARGV[ai + 1]); ai = ai + 2
end
ki = ki + new
-- Then the others: per record 1 if this batch created it and indexed it (no TTL to decide), its
-- field count, the fields.
local m = tonumber(ARGV[ai]); local ttl = tonumber(ARGV[ai + 1]); ai = ai + 2
for i = 0, m - 1 do
  local key = KEYS[ki + i]
  local new_indexed = ARGV[ai] == '1'
  local fields = tonumber(ARGV[ai + 1]); ai = ai + 2
  -- One HSET of all the fields and one HMGET of the three that decide the TTL: each redis.call
  -- costs the server a command dispatch (and the Lua around it as much again).
  if fields > 0 then redis.call('HSET', key, unpack(ARGV, ai, ai + 2 * fields - 1)) end
  ai = ai + 2 * fields
  if not new_indexed then
    local hks = redis.call('HMGET', key, 'h', 'k', 's')
    local indexed = hks[1] and not hks[2]
    local held = hks[3] == 'HELD'
    if not indexed and not held and redis.call('TTL', key) < 0 then
      redis.call('EXPIRE', key, ttl)
    end
  end
end
ki = ki + m

-- Record indexes: per partition, its count of items ("<event time, 15 digits>|<tx_id>", "-" for
-- "|" when never held), then the items; one RPUSH per partition, in chunks that keep unpack()
-- under Lua's stack limit. A list in arrival order, not a sorted set by event time: an append
-- is ~0.05 µs of Redis where a sorted set's insert into a large index was ~0.7 and its removal
-- ~0.35 more, and an item takes a quarter of the memory
-- (loadtest/results/rewrites-2026-12-06/index-list/).
local x = tonumber(ARGV[ai]); ai = ai + 1
for i = 0, x - 1 do
  local left = tonumber(ARGV[ai]); ai = ai + 1
  while left > 0 do
    local chunk = math.min(left, 2000)
    redis.call('RPUSH', KEYS[ki + i], unpack(ARGV, ai, ai + chunk - 1))
    ai = ai + chunk; left = left - chunk
  end
end
ki = ki + x

-- Event-time marks; when one moves, records more than the window behind it are pruned (a retry
-- of those is stale now), a bounded number per batch: per partition, its mark, its cap (as
-- many as the batch indexes there and a margin, so the index never outgrows the window however
-- many records one batch adds to one partition; agents/store.py PRUNE_MARGIN) and how many
-- items to read first (about as many as the batch adds: in a steady stream that many fall due).
-- The head is read in chunks that double while every item in one is due, not the whole cap at
-- once: each item LRANGE returns is a string Lua interns, and reading the margin every batch
-- cost ~10 items a transaction at a moderate rate, where ~1 is due.
-- Held ones stay, marked; the rest go by one DEL per chunk, not a call each (a call from Lua
-- costs Redis a command dispatch and the Lua around it, and nearly every one goes). Only the
-- records that may be held are read first (`maybe_held`); one indexed as never held ("-" in
-- its item, agents/store.py index_item) never will be, and goes unread (`unread`).
local p = tonumber(ARGV[ai]); local window = tonumber(ARGV[ai + 1]); local prefix = ARGV[ai + 2]
ai = ai + 3
local function drop(maybe_held, unread)
  local gone = {}
  for _, tx_id in ipairs(maybe_held) do
    local key = prefix .. tx_id
    if redis.call('HGET', key, 's') == 'HELD' then
      redis.call('HSET', key, 'k', '1')
    else
      gone[#gone + 1] = key
    end
  end
  for _, tx_id in ipairs(unread) do
    gone[#gone + 1] = prefix .. tx_id
  end
  for first = 1, #gone, 1000 do  -- chunks keep unpack() under Lua's stack limit
    redis.call('DEL', unpack(gone, first, math.min(first + 999, #gone)))
  end
end
for i = 0, p - 1 do
  local mark_key, legacy_key, index_key = KEYS[ki + 3 * i], KEYS[ki + 3 * i + 1], KEYS[ki + 3 * i + 2]
  local high = math.max(tonumber(ARGV[ai]), tonumber(redis.call('GET', mark_key) or '0'))
  redis.call('SET', mark_key, high)
  local cap, step = tonumber(ARGV[ai + 1]), tonumber(ARGV[ai + 2])
  ai = ai + 3
  local bound = high - window
  -- An index written before 2026-12-06, a sorted set by event time, drains as it did until it
  -- is empty (and so gone): its records are the oldest.
  local old = redis.call('ZRANGEBYSCORE', legacy_key, '-inf', '(' .. bound, 'LIMIT', 0, cap)
  drop(old, {})
  if #old > 0 then redis.call('ZREMRANGEBYRANK', legacy_key, 0, #old - 1) end
  -- The list's head goes while it is a window behind the mark. One that arrived after a later
  -- one waits behind it: kept longer than the window, never less.
  local maybe_held, unread, due = {}, {}, 0
  local want, more = cap - #old, true
  while more and due < want do
    local n = math.min(step, want - due)
    local items = redis.call('LRANGE', index_key, due, due + n - 1)
    more = #items == n  -- a short chunk is the index's end
    for _, item in ipairs(items) do
      if tonumber(string.sub(item, 1, 15)) >= bound then more = false; break end
      local ids = string.byte(item, 16) == 45 and unread or maybe_held  -- 45: '-'
      ids[#ids + 1] = string.sub(item, 17)
      due = due + 1
    end
    step = step * 2
  end
  drop(maybe_held, unread)
  if due > 0 then redis.call('LTRIM', index_key, due, -1) end
end
ki = ki + 3 * p

local h = tonumber(ARGV[ai]); ai = ai + 1
for i = 0, h - 1 do
  if ARGV[ai + 1] == '' then
    redis.call('ZREM', KEYS[ki + i], ARGV[ai])
  else
    redis.call('ZADD', KEYS[ki + i], ARGV[ai + 1], ARGV[ai])
  end
  ai = ai + 2
end
ki = ki + h

-- Fan-in sets (agents/fraud/fanin.py): each payer's newest payment time per destination (ZADD GT
-- never moves a time back, so replays and other workers' batches cannot undo it), then all but
-- the newest `cap` payers are dropped, and the set expires a window after its last write.
-- Payers older than the window are not trimmed by time: they count for no payment (reads count
-- from each payment's window start), the cap bounds them, and the expiry drops an idle set (a
-- trim by time was a command per destination per batch).
-- Each payment also counts in its destination's payments per day (the fraud rates'
-- denominators, agents/fraud/labelrisk.py).
-- Per destination the batch paid, KEYS holds its fan-in set and its payments per day; ARGV its
-- count of payments, the (time, payer) pairs, its count of days and the (day, payments) pairs:
-- one ZADD and one HINCRBY per day for all the batch's payments to it, not one of each per
-- payment (each call from Lua costs a command dispatch and the Lua around it).
-- Times and days are strings, handed to redis.call as they are (a Lua number is formatted back
-- into a string on every call, ~3% of the server's CPU).
local f = tonumber(ARGV[ai]); local fan_window = ARGV[ai + 1]; local cap = tonumber(ARGV[ai + 2])
local days_kept = tonumber(ARGV[ai + 3])
ai = ai + 4
for i = 0, f - 1 do
  local key, days_key = KEYS[ki + 2 * i], KEYS[ki + 2 * i + 1]
  local n = tonumber(ARGV[ai])
  ai = ai + 1
  local added = 0
  for first = 0, n - 1, 1000 do  -- chunks keep unpack() under Lua's stack limit
    local last = math.min(first + 999, n - 1)
    added = added + redis.call('ZADD', key, 'GT', unpack(ARGV, ai + 2 * first, ai + 2 * last + 1))
  end
  ai = ai + 2 * n
  -- The set held at most `cap` before (every write trims after adding): only new payers can
  -- take it past that.
  if added > 0 then redis.call('ZREMRANGEBYRANK', key, 0, -(cap + 1)) end
  redis.call('PEXPIRE', key, fan_window)
  -- The day that falls out of the kept span goes, and the expiry moves, only when a payment
  -- opens a new day in the hash (HINCRBY returns the batch's own count). The same days are
  -- dropped (a day's field appears only then); an idle destination's hash expires
  -- PAYMENT_DAYS_KEPT days after the first payment of its newest day, not the last: hours sooner.
  local days = tonumber(ARGV[ai]); ai = ai + 1
  local opened = false
  for _ = 1, days do
    local day, count = ARGV[ai], ARGV[ai + 1]
    if redis.call('HINCRBY', days_key, day, count) == tonumber(count) then
      redis.call('HDEL', days_key, tonumber(day) - days_kept)
      opened = true
    end
    ai = ai + 2
  end
  if opened then redis.call('PEXPIRE', days_key, days_kept * 86400000) end
end
ki = ki + 2 * f

local o = tonumber(ARGV[ai]); ai = ai + 1
for i = 0, o - 1 do
  redis.call('HSET', KEYS[ki + i], ARGV[ai], ARGV[ai + 1]); ai = ai + 2
end
ki = ki + o

-- Earlier batches' outbox entries whose outputs Kafka has acknowledged since: dropped with this
-- write rather than by a command (and an fsync'd write) of their own (agents/pipeline.py).
local d = tonumber(ARGV[ai]); ai = ai + 1
for i = 0, d - 1 do
  redis.call('HDEL', KEYS[ki + i], ARGV[ai]); ai = ai + 1
end
return 'ok'

-- Read what one batch needs in a single call: for each account its stored value (version and
-- state, streams/accounts.py; MGET in chunks that keep unpack() under Lua's stack limit), for each
-- transaction record all its fields, for each partition its event-time mark, for each account a
-- payment names (payer or destination) its label-risk set, for each payment what its
-- destination's fan-in set holds. One command with many keys costs the client far less than
-- thousands of pipelined commands.
-- For a destination whose label-risk set holds entries, also its payments per day (the fraud
-- rates' denominators; for any other destination a rate is 0, so they are not read).
-- Last, whether the batch's partitions' outboxes hold an entry that is not the reader's own: a
-- batch re-sends what an earlier run left there before its own outputs (agents/pipeline.py), and
-- nearly always nothing is left; asked here, in the same atomic read, that costs no round trip of
-- its own. The reader's own entries (batches it committed, being sent or sent and not yet
-- dropped) are named per outbox key: they are not left by anyone.
-- KEYS: accounts..., tx records..., event-time keys..., label-risk keys (the destinations'
--       first)..., payments-per-day keys (one per destination, same order)..., fan-in keys (one
--       per destination)..., outbox keys...
-- ARGV: #accounts, #tx records, #event-time keys, #label-risk keys, #outbox keys, #destinations,
--       then per destination: #payments, their since_ms..., their payers..., then per outbox
--       key: #own entries, their batch ids
local accounts, records, marks = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local risks, outboxes, destinations = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local out = {}
for first = 1, accounts, 1000 do
  local values = redis.call('MGET', unpack(KEYS, first, math.min(first + 999, accounts)))
  for i = 1, #values do out[#out + 1] = values[i] or '' end
end
-- Nearly every transaction record a batch asks for does not exist (a tx_id is new, and only a
-- retry or a verdict finds one): one EXISTS per chunk of keys says so, and only a chunk where some
-- exist is read key by key. Each redis.call costs a command dispatch and the Lua around it.
local CHUNK = 64
local function each_existing(from, to, read, absent)
  for low = from, to, CHUNK do
    local high = math.min(low + CHUNK - 1, to)
    if redis.call('EXISTS', unpack(KEYS, low, high)) > 0 then
      for i = low, high do read(i) end
    else
      for _ = low, high do absent() end
    end
  end
end
local function empty() out[#out + 1] = {} end
each_existing(accounts + 1, accounts + records,
  function(i) out[#out + 1] = redis.call('HGETALL', KEYS[i]) end, empty)
for i = accounts + records + 1, accounts + records + marks do
  out[#out + 1] = redis.call('GET', KEYS[i]) or '0'
end
local first = accounts + records + marks + 1
-- Label-risk sets exist only for accounts that fraud labels named: the same, chunk by chunk. The
-- first `destinations` are the batch's destinations, and only theirs have the payments per day
-- beside (the rates are a destination's).
each_existing(first, first + risks - 1, function(i)
  local entries = redis.call('ZRANGE', KEYS[i], 0, -1, 'WITHSCORES')
  out[#out + 1] = entries
  local days = i - first < destinations and #entries > 0
  out[#out + 1] = days and redis.call('HGETALL', KEYS[i + risks]) or {}
end, function() empty(); empty() end)
-- Fan-in: per destination the batch pays, per payment the payers counted since its since_ms,
-- then one ZMSCORE of its payers' last payment times (one call per destination, not per payment).
-- Where every count is 0 the times are not read: a payer's time at or after its payment's
-- since_ms would have been counted, and one before it counts as unseen (agents/fraud/fanin.py).
local ai = 7
for i = first + risks + destinations, #KEYS - outboxes do
  local n = tonumber(ARGV[ai]); ai = ai + 1
  local counted = 0
  for j = ai, ai + n - 1 do
    local count = redis.call('ZCOUNT', KEYS[i], ARGV[j], '+inf')
    out[#out + 1] = count
    counted = counted + count
  end
  local times = {}
  if counted > 0 and n <= 1000 then
    times = redis.call('ZMSCORE', KEYS[i], unpack(ARGV, ai + n, ai + 2 * n - 1))
  elseif counted > 0 then  -- in chunks that keep unpack() under Lua's stack limit
    for low = ai + n, ai + 2 * n - 1, 1000 do
      local scores = redis.call('ZMSCORE', KEYS[i], unpack(ARGV, low, math.min(low + 999, ai + 2 * n - 1)))
      for j = 1, #scores do times[#times + 1] = scores[j] end
    end
  end
  out[#out + 1] = times
  ai = ai + 2 * n
end
local left, plain = 0, {}
for i = #KEYS - outboxes + 1, #KEYS do
  local n = tonumber(ARGV[ai]); ai = ai + 1
  if n == 0 then
    plain[#plain + 1] = KEYS[i]
  else
    local own = {}
    for j = ai, ai + n - 1 do own[ARGV[j]] = true end
    ai = ai + n
    if left == 0 then
      for _, batch_id in ipairs(redis.call('HKEYS', KEYS[i])) do
        if not own[batch_id] then left = 1; break end
      end
    end
  end
end
if left == 0 and #plain > 0 then left = redis.call('EXISTS', unpack(plain)) end
out[#out + 1] = left
return out

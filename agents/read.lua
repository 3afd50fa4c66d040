-- Read what one batch of a Redis Cluster partition needs in a single call (ClusterStateStore;
-- one server reads the same by plain commands in a MULTI, agents/store.py): for each account its
-- stored value (version and state, streams/accounts.py; MGET in chunks that keep unpack() under
-- Lua's stack limit), for each transaction record all its fields, for each partition its
-- event-time mark. The fraud features, under other slots, are read beside the script.
-- Last, whether the batch's partitions' outboxes hold an entry that is not the reader's own: a
-- batch re-sends what an earlier run left there before its own outputs (agents/pipeline.py), and
-- nearly always nothing is left; asked here, in the same atomic read, that costs no round trip of
-- its own. The reader's own entries (batches it committed, being sent or sent and not yet
-- dropped) are named per outbox key: they are not left by anyone.
-- KEYS: accounts..., tx records..., event-time keys..., outbox keys...
-- ARGV: #accounts, #tx records, #event-time keys, #outbox keys, then per outbox key: #own
--       entries, their batch ids
local accounts, records, marks = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local outboxes = tonumber(ARGV[4])
local out = {}
for first = 1, accounts, 1000 do
  local values = redis.call('MGET', unpack(KEYS, first, math.min(first + 999, accounts)))
  for i = 1, #values do out[#out + 1] = values[i] or '' end
end
-- Nearly every transaction record a batch asks for does not exist (a tx_id is new, and only a
-- retry or a verdict finds one): one EXISTS per chunk of keys says so, and only a chunk where some
-- exist is read key by key. Each redis.call costs a command dispatch and the Lua around it.
local CHUNK = 64
for low = accounts + 1, accounts + records, CHUNK do
  local high = math.min(low + CHUNK - 1, accounts + records)
  if redis.call('EXISTS', unpack(KEYS, low, high)) > 0 then
    for i = low, high do out[#out + 1] = redis.call('HGETALL', KEYS[i]) end
  else
    for _ = low, high do out[#out + 1] = {} end
  end
end
for i = accounts + records + 1, accounts + records + marks do
  out[#out + 1] = redis.call('GET', KEYS[i]) or '0'
end
local left, plain, ai = 0, {}, 5
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

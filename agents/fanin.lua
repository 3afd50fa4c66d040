-- A batch's fan-in counts, inside the single-server read's MULTI (agents/store.py): per
-- destination the batch pays, per payment the payers counted since its since_ms, then one ZMSCORE
-- of its payers' last payment times (one call per destination, not per payment). Where every
-- count is 0 the times are not read: a payer's time at or after its payment's since_ms would have
-- been counted, and one before it counts as unseen (agents/fraud/fanin.py). A script because it
-- is one command per payment: as plain commands each would be a reply for the worker to read.
-- A count is the set's size less the payers before the payment's window, not a ZCOUNT from
-- since_ms up: a set of at most FAN_IN_CAP (64) members is a listpack, which ZCOUNT walks member
-- by member through the range it counts, and nearly every member is inside the window, where
-- nearly none is before it (there the walk stops at once). An empty set costs one ZCARD, not a
-- call per payment (loadtest/results/levers-2026-12-07/).
-- KEYS: fan-in keys, one per destination
-- ARGV: per destination: #payments, their "(<since_ms>" (exclusive bounds)..., their payers...
-- Returns per destination its counts..., then its payers' times (or an empty list).
local out, ai = {}, 1
for i = 1, #KEYS do
  local n = tonumber(ARGV[ai]); ai = ai + 1
  local counted = 0
  local held = redis.call('ZCARD', KEYS[i])
  for j = ai, ai + n - 1 do
    local count = 0
    if held > 0 then count = held - redis.call('ZCOUNT', KEYS[i], '-inf', ARGV[j]) end
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
return out

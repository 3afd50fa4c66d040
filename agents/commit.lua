-- Apply one batch atomically: account states (with a version check per account), transaction
-- records, partition event-time high-water marks, the hold index and the outbox entries.
-- Nothing is written if any account's version moved since the batch read it: another agent or a
-- worker that now owns the partition wrote it, and the batch must be recomputed.
-- KEYS: accounts..., tx records..., event-time keys..., hold-index keys..., outbox keys...
-- ARGV: see agents/store.py (_commit_args), sections in the same order as KEYS.
local ai, ki = 1, 1
local n = tonumber(ARGV[ai]); ai = ai + 1
for i = 0, n - 1 do
  local seen = redis.call('HGET', KEYS[ki + i], 'v') or '0'
  if seen ~= ARGV[ai + 2 * i] then
    return {'conflict', KEYS[ki + i], seen, ARGV[ai + 2 * i]}
  end
end
-- A transaction record this batch creates must not have been created meanwhile for another
-- body: the same tx_id can reach two partitions (different source accounts), whose batches
-- share no account to conflict on.
do
  local aj = ai + 2 * n + 2
  local kj = ki + n
  for i = 0, tonumber(ARGV[ai + 2 * n]) - 1 do
    local fields = tonumber(ARGV[aj]); aj = aj + 1
    for _ = 1, fields do
      if ARGV[aj] == 'h' then
        local seen = redis.call('HGET', KEYS[kj + i], 'h')
        if seen and seen ~= ARGV[aj + 1] then
          return {'conflict', KEYS[kj + i], seen, ARGV[aj + 1]}
        end
      end
      aj = aj + 2
    end
  end
end
for i = 0, n - 1 do
  redis.call('HSET', KEYS[ki + i], 'v', tonumber(ARGV[ai + 2 * i]) + 1, 's', ARGV[ai + 2 * i + 1])
end
ki = ki + n; ai = ai + 2 * n

local m = tonumber(ARGV[ai]); local ttl = tonumber(ARGV[ai + 1]); ai = ai + 2
for i = 0, m - 1 do
  local key = KEYS[ki + i]
  local fields = tonumber(ARGV[ai]); ai = ai + 1
  for _ = 1, fields do
    redis.call('HSET', key, ARGV[ai], ARGV[ai + 1]); ai = ai + 2
  end
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ttl) end
end
ki = ki + m

local p = tonumber(ARGV[ai]); ai = ai + 1
for i = 0, p - 1 do
  local current = tonumber(redis.call('GET', KEYS[ki + i]) or '0')
  if tonumber(ARGV[ai]) > current then redis.call('SET', KEYS[ki + i], ARGV[ai]) end
  ai = ai + 1
end
ki = ki + p

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

local o = tonumber(ARGV[ai]); ai = ai + 1
for i = 0, o - 1 do
  redis.call('HSET', KEYS[ki + i], ARGV[ai], ARGV[ai + 1]); ai = ai + 2
end
return 'ok'

era(ARGV[1], ARGV[4], true)
-- The epoch moves to at least now * 1000, so that it also tells when the last change was
-- recorded: a process that syncs to it knows how late it learned of it (its invalidation lag).
local prev = redis.call('GET', KEYS[4])
local epoch = redis.call('INCR', KEYS[4])
if epoch < tonumber(ARGV[4]) then
  redis.call('SET', KEYS[4], ARGV[4])
  epoch = ARGV[4]
end
local at, late = tonumber(ARGV[1]), tonumber(ARGV[7])
local function later(h, t, v)
  local cur = tonumber(redis.call('HGET', KEYS[h], t) or '')
  if not late or not cur or cur < at then redis.call('HSET', KEYS[h], t, v) return true end
  return false
end
for i = 8, #ARGV do
  local t = ARGV[i]
  if ARGV[2] == 'x' then
    if not later(2, t, ARGV[1]) and tonumber(redis.call('HGET', KEYS[2], t)) > late then
      later(1, t, ARGV[1])
    end
  else
    later(1, t, ARGV[1])
    if ARGV[3] ~= '' then later(2, t, ARGV[3]) end
  end
  redis.call('ZADD', KEYS[3], epoch, t)
end
-- Prune: the log holds each stamped tag once, least recently changed first. Examine a few of
-- the oldest; drop those whose stamps are all older than the cutoff (a future deadline keeps
-- its tag). No process needs to hear of it: a stamp kept longer is never wrong.
local cutoff = tonumber(ARGV[5])
local oldest = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '+inf', 'LIMIT', 0, ARGV[6])
for _, t in ipairs(oldest) do
  if t ~= '' then
    local s = tonumber(redis.call('HGET', KEYS[1], t) or '')
    local x = tonumber(redis.call('HGET', KEYS[2], t) or '')
    if (s or -1) < cutoff and (x or -1) < cutoff then
      redis.call('HDEL', KEYS[1], t)
      redis.call('HDEL', KEYS[2], t)
      redis.call('ZREM', KEYS[3], t)
    end
  end
end
return {prev, epoch}

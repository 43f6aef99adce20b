era(ARGV[1], ARGV[4], true)
-- The epoch moves to at least now * 1000, so that it also tells when the last change was
-- recorded: a process that syncs to it knows how late it learned of it (its invalidation lag).
local prev = redis.call('GET', KEYS[4])
local epoch = redis.call('INCR', KEYS[4])
if epoch < tonumber(ARGV[4]) then
  redis.call('SET', KEYS[4], ARGV[4])
  epoch = ARGV[4]
end
-- Invariant: a tag's stamps are those of applying every revalidation recorded so far one after
-- the other in the order of their times (`at`; at equal times, the one setting the later expiry
-- first), as Next's own cache applies each when it is made. Whatever order they reach Redis in
-- (late from an outbox, interleaved with other instances' records, or twice), so:
-- - stale: the latest time of a profile (only profiles set it, to their time);
-- - expired: set by the latest revalidation that sets it (expire now: its time; a profile with an
--   `expire`: its deadline; a profile without one leaves it). A deadline does not tell when it
--   was set, so `deadlines` keeps `<at>:<deadline>` beside it; no entry there (an expire-now, or
--   a stamp an older version wrote or a lost key) means the stamp is its own time, except for a
--   deadline still ahead, which a profile set no later than the stale stamp.
local at, now = tonumber(ARGV[1]), tonumber(ARGV[7])
local mode = ARGV[2]
local sets = mode == 'x' and ARGV[1] or ARGV[3]
local function setter(t, e)
  local d = redis.call('HGET', KEYS[6], t)
  if d then
    local s, de = string.match(d, '^([^:]*):(.*)$')
    if de == e then return tonumber(s) end
  end
  local x = tonumber(e)
  if x > now then return tonumber(redis.call('HGET', KEYS[1], t) or '') or x end
  return x
end
for i = 8, #ARGV do
  local t = ARGV[i]
  if sets ~= '' then
    local e = redis.call('HGET', KEYS[2], t)
    local wins = not e
    if e then
      local s = setter(t, e)
      wins = s < at or (s == at and tonumber(sets) < tonumber(e))
    end
    if wins then
      redis.call('HSET', KEYS[2], t, sets)
      if mode == 'x' then
        redis.call('HDEL', KEYS[6], t)
      else
        redis.call('HSET', KEYS[6], t, ARGV[1] .. ':' .. sets)
      end
    end
  end
  if mode == 's' then
    local cur = tonumber(redis.call('HGET', KEYS[1], t) or '')
    if not cur or cur < at then redis.call('HSET', KEYS[1], t, ARGV[1]) end
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
      redis.call('HDEL', KEYS[6], t)
      redis.call('ZREM', KEYS[3], t)
    end
  end
end
return {prev, epoch}

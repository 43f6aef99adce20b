-- era(now, base, create): heals a partial loss of the five manifest keys (see manifest.rs);
-- with `create`, also makes a new store's keys and adds sentinels missing from older versions'.
local function era(now, base, create)
  local n = redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
  if n == 5 then
    if create then
      redis.call('HSET', KEYS[1], '', '')
      redis.call('HSET', KEYS[2], '', '')
      redis.call('ZADD', KEYS[3], 'NX', 0, '')
    end
    return
  end
  if n == 0 and not create then return end
  -- A new store's log is complete from epoch 0; after a loss, nothing before now is in it.
  local kind, floor = 'c', 0
  if redis.call('EXISTS', KEYS[4]) == 0 then redis.call('SET', KEYS[4], base) end
  local epoch = redis.call('GET', KEYS[4])
  if n > 0 then kind, floor = 'l', epoch end
  redis.call('HSET', KEYS[1], '', '')
  redis.call('HSET', KEYS[2], '', '')
  redis.call('ZADD', KEYS[3], floor, '')
  redis.call('SET', KEYS[5], kind .. ':' .. now .. ':' .. epoch)
end

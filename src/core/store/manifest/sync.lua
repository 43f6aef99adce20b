era(ARGV[3], ARGV[4], false)
-- Epochs pass through as strings: Lua's tostring would print them in exponent form.
local epoch = redis.call('GET', KEYS[4])
if not epoch then return {'0', '', 'ok'} end
local born = redis.call('GET', KEYS[5]) or ''
local from = tonumber(ARGV[1])
local floor = tonumber(redis.call('ZSCORE', KEYS[3], '') or '0')
if from > tonumber(epoch) or from < floor then return {epoch, born, 'behind'} end
local batch = tonumber(ARGV[2])
local changed = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf', 'LIMIT', 0, batch + 1)
if #changed > batch then return {epoch, born, 'behind'} end
local out = {epoch, born, 'ok'}
for _, t in ipairs(changed) do
  if t ~= '' then out[#out + 1] = t end
end
return out

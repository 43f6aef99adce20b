local n = redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
if n ~= 5 and n ~= 0 then return {'0', '', 'heal'} end
local out = {redis.call('GET', KEYS[4]) or '0', redis.call('GET', KEYS[5]) or '', 'ok'}
for i = 1, #ARGV do
  out[#out + 1] = redis.call('HGET', KEYS[1], ARGV[i]) or ''
  out[#out + 1] = redis.call('HGET', KEYS[2], ARGV[i]) or ''
end
return out

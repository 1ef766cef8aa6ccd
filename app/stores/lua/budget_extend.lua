-- Push back the expiry of live holds (their requests still run: a long stream). KEYS[1] expiry zset, KEYS[2..] holds.
-- ARGV[1] now, ARGV[2] ttl (s), ARGV[3] how long a settled hold is remembered (s). Returns how many were extended.
local now, ttl, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local extended = 0
for i = 2, #KEYS do
  if redis.call('HGET', KEYS[i], 'state') == 'reserved' then
    redis.call('ZADD', KEYS[1], 'XX', fstr(now + ttl), KEYS[i])
    redis.call('EXPIRE', KEYS[i], math.ceil(ttl + keep))
    extended = extended + 1
  end
end
return extended

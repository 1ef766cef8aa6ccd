-- Hold a model off until a deadline (after a 429), keeping the later of it and an existing one.
-- KEYS[1] holds hash. ARGV[1] model, ARGV[2] until. Returns the deadline in force.
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and tonumber(current) >= tonumber(ARGV[2]) then return current end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return ARGV[2]

-- What other replicas did: the running 429 hold-offs and the breakers that are not closed (app/providers/
-- guard_store.py). KEYS[1] holds, KEYS[2] not-closed set. ARGV[1] now, ARGV[2] the breakers' key prefix.
-- Returns {holds: model, until, ...}, {breakers: model, state, open_until, trial_since, cause, cooldown, ...}.
-- Expired hold-offs and forgotten breakers are cleaned up. The breaker keys carry this provider's hash tag.
local now = tonumber(ARGV[1])
local holds = {}
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  if tonumber(flat[i + 1]) > now then
    table.insert(holds, flat[i]); table.insert(holds, flat[i + 1])
  else
    redis.call('HDEL', KEYS[1], flat[i])
  end
end
local breakers = {}
for _, model in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local v = redis.call('HMGET', ARGV[2] .. escape_part(model), 'state', 'open_until', 'trial_since', 'cause', 'cooldown')
  if v[1] and v[1] ~= 'closed' then
    table.insert(breakers, model)
    for j = 1, 5 do table.insert(breakers, v[j] or '') end
  else
    redis.call('SREM', KEYS[2], model)
  end
end
return {holds, breakers}

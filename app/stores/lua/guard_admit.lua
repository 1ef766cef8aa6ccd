--@include guard_common.lua
-- Admit one call to a model (app/providers/guard_store.py): its circuit breaker, its 429 hold-off, then its token
-- buckets, all or nothing. KEYS[1] breaker, KEYS[2] holds, KEYS[3] not-closed set, KEYS[4..] buckets.
-- ARGV[1] model, ARGV[2] now, ARGV[3] trial timeout (s), then per bucket: amount, capacity, refill per second.
-- Returns {outcome, seconds, text}: 'ok' (text: 'half_open' when this call took the half-open trial), 'unhealthy'
-- (text: why), 'held' (seconds left), 'wait' (seconds until both buckets fit; 'inf': never).
local model, now, trial_timeout = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local cb = redis.call('HMGET', KEYS[1], 'state', 'open_until', 'trial_since', 'cause')
local state = cb[1] or 'closed'
local trial = false
if state == 'open' then
  local remaining = num(cb[2]) - now
  if remaining > 0 then
    return {'unhealthy', fstr(remaining), string.format('cooling down after %s, %.1f s left', cb[4] or '?', remaining)}
  end
  trial = true
elseif state == 'half_open' then
  if cb[3] and now - tonumber(cb[3]) < trial_timeout then
    return {'unhealthy', '0', 'half-open: a trial request is in flight'}
  end
  trial = true
end
local held = redis.call('HGET', KEYS[2], model)
if held and tonumber(held) > now then return {'held', fstr(tonumber(held) - now), ''} end
local n = #KEYS - 3
local levels, times, wait = {}, {}, 0
for i = 1, n do
  local base = 3 + (i - 1) * 3
  local amount, cap, rate = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  levels[i], times[i] = refill(KEYS[i + 3], cap, rate, now)
  local w = wait_s(levels[i], amount, cap, rate)
  if w > wait then wait = w end
end
if wait > 0 then return {'wait', fstr(wait), ''} end
for i = 1, n do
  local base = 3 + (i - 1) * 3
  store_bucket(KEYS[i + 3], levels[i] - tonumber(ARGV[base + 1]), times[i], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]))
end
if trial then
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'trial_since', fstr(now))
  redis.call('SADD', KEYS[3], model)
  return {'ok', '0', 'half_open'}
end
return {'ok', '0', ''}

--@include guard_common.lua
-- Record the outcome of a call in a model's circuit breaker (the state machine of app/providers/health.py).
-- KEYS[1] breaker, KEYS[2] not-closed set. ARGV[1] model, ARGV[2] now, ARGV[3] 'success', 'failure' (counted) or
-- 'release' (the trial says nothing), ARGV[4] the failure's ' (last: Kind)' text, then the policy: failure threshold,
-- failure rate threshold, min requests, window (s), cooldown (s), cooldown multiplier, max cooldown (s), trial
-- timeout (s), ARGV[13] how many outcomes this is (successes reported in a batch; default 1).
-- Returns {transition ('' or the new state), state, cooldown}.
local model, now, outcome, last = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local threshold, rate_threshold, min_requests = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local window, base_cooldown, multiplier = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local max_cooldown, trial_timeout = tonumber(ARGV[11]), tonumber(ARGV[12])
local count = tonumber(ARGV[13] or '1')
local key = KEYS[1]
local width = window / SLOTS
local v = redis.call('HMGET', key, 'state', 'cons', 'cooldown', 'opened')
local state, cons, cooldown, opened = v[1] or 'closed', num(v[2]), tonumber(v[3]) or base_cooldown, num(v[4])

local function keep()
  redis.call('EXPIRE', key, math.ceil(window + max_cooldown + trial_timeout + 60))
end

local function open(cause)
  redis.call('HSET', key, 'state', 'open', 'open_until', fstr(now + cooldown), 'cooldown', fstr(cooldown),
    'opened', opened + 1, 'cause', cause, 'cons', cons)
  redis.call('HDEL', key, 'trial_since')
  redis.call('SADD', KEYS[2], model)
  keep()
  return {'open', 'open', fstr(cooldown)}
end

if outcome == 'release' then
  redis.call('HDEL', key, 'trial_since')
  return {'', state, fstr(cooldown)}
end
if outcome == 'success' then
  if state == 'half_open' then
    redis.call('DEL', key)
    if opened > 0 then redis.call('HSET', key, 'opened', opened); keep() end
    redis.call('SREM', KEYS[2], model)
    return {'closed', 'closed', fstr(base_cooldown)}
  end
  ring_add(key, now, width, false, count, {'cons', 0})
  keep()
  return {'', state, fstr(cooldown)}
end
ring_add(key, now, width, true, 1)
cons = cons + 1
if state == 'half_open' then
  cooldown = math.min(cooldown * multiplier, max_cooldown)
  return open('a failed trial request' .. last)
end
if state == 'closed' then
  if cons >= threshold then return open(string.format('%d consecutive failures%s', cons, last)) end
  local requests, failures = ring_totals(key, now, width)
  if requests >= min_requests and failures / requests >= rate_threshold then
    local cause = string.format('%d failures in %d requests (%d%%) in %s s%s', failures, requests,
      math.floor(failures * 100 / requests + 0.5), fstr(window), last)
    return open(cause)
  end
end
redis.call('HSET', key, 'cons', cons)
keep()
return {'', state, fstr(cooldown)}

--@include budget_reap.lua
-- Reserve one amount on every budget window of a request, all or nothing (app/budgets/store.py).
-- KEYS[1] expiry zset, KEYS[2] the hold, KEYS[3..] the windows.
-- ARGV[1] now (s), ARGV[2] hold ttl (s), ARGV[3] amount high, ARGV[4] amount low, ARGV[5] how long a settled hold is
-- remembered (s), then per window: limit high, limit low, expire-at (unix s).
-- Returns {status, index, then per window: spent h, spent l, reserved h, reserved l}; status 'ok', 'refused' (index:
-- the first window that cannot take it), or the state of a hold that already exists ('reserved', 'settled', ...).
local now, ttl, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[5])
local ah, al = tonumber(ARGV[3]), tonumber(ARGV[4])
reap(KEYS[1], now)
local n = #KEYS - 2

local function states(status, index)
  local out = {status, index}
  for i = 1, n do
    local sh, sl = get2(KEYS[i + 2], 's')
    local rh, rl = get2(KEYS[i + 2], 'r')
    table.insert(out, fmt(sh)); table.insert(out, fmt(sl)); table.insert(out, fmt(rh)); table.insert(out, fmt(rl))
  end
  return out
end

local existing = redis.call('HGET', KEYS[2], 'state')
if existing then return states(existing, 0) end
for i = 1, n do
  local base = 5 + (i - 1) * 3
  local sh, sl = get2(KEYS[i + 2], 's')
  local rh, rl = get2(KEYS[i + 2], 'r')
  local th, tl = norm(sh + rh + ah, sl + rl + al)
  if not le2(th, tl, tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])) then
    return states('refused', i)
  end
end
local lines = {}
for i = 1, n do
  local key = KEYS[i + 2]
  add2(key, 'r', ah, al)
  redis.call('EXPIREAT', key, ARGV[5 + (i - 1) * 3 + 3])
  table.insert(lines, key)
end
redis.call('HSET', KEYS[2], 'state', 'reserved', 'ah', fmt(ah), 'al', fmt(al), 'lines', table.concat(lines, '\n'))
redis.call('EXPIRE', KEYS[2], math.ceil(ttl + keep))
redis.call('ZADD', KEYS[1], fstr(now + ttl), KEYS[2])
return states('ok', 0)

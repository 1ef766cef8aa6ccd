--@include budget_reap.lua
-- Reserve holds, each one amount on every budget window of its request, all or nothing (app/budgets/store.py).
-- Several concurrent requests' holds come in one call (each decided in turn, as if called one after the other).
-- KEYS[1] expiry zset, then per hold: the hold, then its windows.
-- ARGV[1] now (s), ARGV[2] how long a settled hold is remembered (s), ARGV[3] how many holds, then per hold: ttl (s),
-- amount high, amount low, how many windows, then per window: limit high, limit low, expire-at (unix s).
-- Returns per hold: status, index, how many windows, then per window: spent h, spent l, reserved h, reserved l.
-- Status 'ok', 'refused' (index: the first window that cannot take it), or the state of a hold that already exists.
local now, keep, holds = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
reap(KEYS[1], now)
local out = {}
local k, a = 2, 4  -- next KEYS and ARGV positions

local function states(status, index, first, n)
  table.insert(out, status); table.insert(out, index); table.insert(out, n)
  for i = 0, n - 1 do
    local sh, sl = get2(KEYS[first + i], 's')
    local rh, rl = get2(KEYS[first + i], 'r')
    table.insert(out, fmt(sh)); table.insert(out, fmt(sl)); table.insert(out, fmt(rh)); table.insert(out, fmt(rl))
  end
end

for _ = 1, holds do
  local hold = KEYS[k]
  local ttl, ah, al, n = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local first, limits = k + 1, a + 4
  local existing = redis.call('HGET', hold, 'state')
  local refused = 0
  if not existing then
    for i = 0, n - 1 do
      local sh, sl = get2(KEYS[first + i], 's')
      local rh, rl = get2(KEYS[first + i], 'r')
      local th, tl = norm(sh + rh + ah, sl + rl + al)
      if not le2(th, tl, tonumber(ARGV[limits + i * 3]), tonumber(ARGV[limits + i * 3 + 1])) then
        refused = i + 1
        break
      end
    end
  end
  if existing then
    states(existing, 0, first, n)
  elseif refused > 0 then
    states('refused', refused, first, n)
  else
    local lines = {}
    for i = 0, n - 1 do
      add2(KEYS[first + i], 'r', ah, al)
      redis.call('EXPIREAT', KEYS[first + i], ARGV[limits + i * 3 + 2])
      table.insert(lines, KEYS[first + i])
    end
    redis.call('HSET', hold, 'state', 'reserved', 'ah', fmt(ah), 'al', fmt(al), 'lines', table.concat(lines, '\n'))
    redis.call('EXPIRE', hold, math.ceil(ttl + keep))
    redis.call('ZADD', KEYS[1], fstr(now + ttl), hold)
    states('ok', 0, first, n)
  end
  k = first + n
  a = limits + n * 3
end
return out

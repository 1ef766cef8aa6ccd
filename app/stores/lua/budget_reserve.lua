--@include budget_windows.lua
--@include budget_reap.lua
-- Reserve holds, each one amount on every budget window of its request, all or nothing (app/budgets/store.py).
-- Several concurrent requests' holds come in one call (each decided in turn, as if called one after the other).
-- KEYS[1] the expiry zset. ARGV[1] JSON: {"now": s, "keep": s, "holds": [{"hold": key, "ttl": s, "ah": "high",
-- "al": "low", "lines": [{"key": key, "lh": "limit high", "ll": "limit low", "exp": "expire-at"}]}]}. Hold and window
-- keys carry the budgets' hash tag, like KEYS[1], so they are on this node even in a Redis Cluster (one key declared
-- instead of dozens: their names cost the client more than the script).
-- Returns per hold: status, index, how many windows, then per window: spent h, spent l, reserved h, reserved l.
-- Status 'ok', 'refused' (index: the first window that cannot take it), or the state of a hold that already exists.
-- Each window is read once and written once per call (budget_windows.lua); a window created here gets its expiry.
local req = cjson.decode(ARGV[1])
local now, keep = tonumber(req.now), tonumber(req.keep)
reap(KEYS[1], now)
local out = {}
local created = {}  -- windows this call creates: key -> expire-at, in order
local created_order = {}

local function states(status, index, lines)
  table.insert(out, status); table.insert(out, index); table.insert(out, #lines)
  for _, line in ipairs(lines) do win_out(out, line.key) end
end

for _, h in ipairs(req.holds) do
  local ah, al, lines = tonumber(h.ah), tonumber(h.al), h.lines
  local existing = redis.call('HGET', h.hold, 'state')
  local refused = 0
  if not existing then
    for i, line in ipairs(lines) do
      local w = win(line.key)
      local th, tl = norm(w[1] + w[3] + ah, w[2] + w[4] + al)
      if not le2(th, tl, tonumber(line.lh), tonumber(line.ll)) then
        refused = i
        break
      end
    end
  end
  if existing then
    states(existing, 0, lines)
  elseif refused > 0 then
    states('refused', refused, lines)
  else
    local names = {}
    for _, line in ipairs(lines) do
      local w = win(line.key)
      if not w.exists then
        w.exists = true
        created[line.key] = line.exp
        table.insert(created_order, line.key)
      end
      win_add(line.key, 3, ah, al)
      table.insert(names, line.key)
    end
    redis.call('HSET', h.hold, 'state', 'reserved', 'ah', fmt(ah), 'al', fmt(al), 'lines', table.concat(names, '\n'))
    redis.call('EXPIRE', h.hold, math.ceil(tonumber(h.ttl) + keep))
    redis.call('ZADD', KEYS[1], fstr(now + tonumber(h.ttl)), h.hold)
    states('ok', 0, lines)
  end
end
win_flush()
for _, key in ipairs(created_order) do redis.call('EXPIREAT', key, created[key]) end
return out

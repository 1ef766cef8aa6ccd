--@include budget_reap.lua
-- Settle holds at their actual costs, each once (app/budgets/store.py); several in one call.
-- KEYS[1] expiry zset. ARGV[1] JSON: {"now": s, "keep": s, "holds": [[hold key, "actual high", "actual low"], ...]}
-- (hold keys carry the budgets' hash tag, as KEYS[1]).
-- A reserved hold: reserved -= amount, spent += actual. An expired one (already charged its amount): spent += actual -
-- amount. A settled one: nothing (idempotent). Returns per hold: its state before ('reserved', 'expired', 'settled'
-- or 'unknown'), how many windows, then per window: spent h, l, reserved h, l.
local req = cjson.decode(ARGV[1])
local now, keep = tonumber(req.now), tonumber(req.keep)
reap(KEYS[1], now)
local out = {}
for _, item in ipairs(req.holds) do
  local hold = item[1]
  local xh, xl = tonumber(item[2]), tonumber(item[3])
  local rec = redis.call('HMGET', hold, 'state', 'ah', 'al', 'lines')
  if not rec[1] then
    table.insert(out, 'unknown'); table.insert(out, 0)
  else
    local ah, al = num(rec[2]), num(rec[3])
    local lines = {}
    for line in string.gmatch(rec[4] or '', '[^\n]+') do table.insert(lines, line) end
    table.insert(out, rec[1]); table.insert(out, #lines)
    for _, line in ipairs(lines) do
      local exists = redis.call('EXISTS', line) == 1
      if exists and rec[1] == 'reserved' then
        add2(line, 'r', -ah, -al)
        add2(line, 's', xh, xl)
      elseif exists and rec[1] == 'expired' then
        add2(line, 's', xh - ah, xl - al)
      end
      local sh, sl = get2(line, 's')
      local rh, rl = get2(line, 'r')
      table.insert(out, fmt(sh)); table.insert(out, fmt(sl)); table.insert(out, fmt(rh)); table.insert(out, fmt(rl))
    end
    if rec[1] ~= 'settled' then
      redis.call('HSET', hold, 'state', 'settled')
      redis.call('ZREM', KEYS[1], hold)
      redis.call('EXPIRE', hold, math.ceil(keep))
    end
  end
end
return out

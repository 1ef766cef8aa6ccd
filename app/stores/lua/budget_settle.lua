--@include budget_windows.lua
--@include budget_reap.lua
-- Settle holds at their actual costs, each once (app/budgets/store.py); several in one call.
-- KEYS[1] expiry zset. ARGV[1] JSON: {"now": s, "keep": s, "holds": [[hold key, "actual high", "actual low"], ...]}
-- (hold keys carry the budgets' hash tag, as KEYS[1]).
-- A reserved hold: reserved -= amount, spent += actual. An expired one (already charged its amount): spent += actual -
-- amount. A settled one: nothing (idempotent). A window that is gone (its calendar window ended) stays gone.
-- Returns per hold: its state before ('reserved', 'expired', 'settled' or 'unknown'), how many windows, then per
-- window: spent h, l, reserved h, l. Each window is read once and written once per call (budget_windows.lua).
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
      if win(line).exists then
        if rec[1] == 'reserved' then
          win_add(line, 3, -ah, -al)
          win_add(line, 1, xh, xl)
        elseif rec[1] == 'expired' then
          win_add(line, 1, xh - ah, xl - al)
        end
      end
      win_out(out, line)
    end
    if rec[1] ~= 'settled' then
      redis.call('HSET', hold, 'state', 'settled')
      redis.call('ZREM', KEYS[1], hold)
      redis.call('EXPIRE', hold, math.ceil(keep))
    end
  end
end
win_flush()
return out

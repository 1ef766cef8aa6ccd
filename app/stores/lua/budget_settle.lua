--@include budget_reap.lua
-- Settle a hold at its actual cost, once (app/budgets/store.py). KEYS[1] expiry zset, KEYS[2] the hold.
-- ARGV[1] now, ARGV[2] actual high, ARGV[3] actual low, ARGV[4] how long the settled hold is remembered (s).
-- A reserved hold: reserved -= amount, spent += actual. An expired one (already charged its amount): spent += actual -
-- amount. A settled one: nothing (idempotent). Returns {status, then per window: spent h, l, reserved h, l}; status is
-- the hold's state before ('reserved', 'expired', 'settled') or 'unknown'.
local now, xh, xl, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
reap(KEYS[1], now)
local rec = redis.call('HMGET', KEYS[2], 'state', 'ah', 'al', 'lines')
if not rec[1] then return {'unknown'} end
local ah, al = num(rec[2]), num(rec[3])
local out = {rec[1]}
for line in string.gmatch(rec[4] or '', '[^\n]+') do
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
  redis.call('HSET', KEYS[2], 'state', 'settled')
  redis.call('ZREM', KEYS[1], KEYS[2])
  redis.call('EXPIRE', KEYS[2], math.ceil(keep))
end
return out

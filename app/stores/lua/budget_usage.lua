--@include budget_reap.lua
-- Spent and reserved of budget windows (after charging expired holds). KEYS[1] expiry zset, KEYS[2..] windows.
-- ARGV[1] now. Returns per window: spent h, l, reserved h, l.
reap(KEYS[1], tonumber(ARGV[1]))
local out = {}
for i = 2, #KEYS do
  local sh, sl = get2(KEYS[i], 's')
  local rh, rl = get2(KEYS[i], 'r')
  table.insert(out, fmt(sh)); table.insert(out, fmt(sl)); table.insert(out, fmt(rh)); table.insert(out, fmt(rl))
end
return out

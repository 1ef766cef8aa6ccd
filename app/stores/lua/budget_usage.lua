--@include budget_windows.lua
--@include budget_reap.lua
-- Spent and reserved of budget windows (after charging expired holds). KEYS[1] expiry zset, KEYS[2..] windows.
-- ARGV[1] now. Returns per window: spent h, l, reserved h, l.
reap(KEYS[1], tonumber(ARGV[1]))
win_flush()
local out = {}
for i = 2, #KEYS do win_out(out, KEYS[i]) end
return out

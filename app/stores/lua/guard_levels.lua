--@include guard_common.lua
-- Levels of token buckets at now, changing nothing. KEYS: buckets. ARGV[1] now, then per bucket: capacity, refill.
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  local level = refill(KEYS[i], tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1]), now)
  table.insert(out, fstr(level))
end
return out

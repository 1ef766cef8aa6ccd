--@include guard_common.lua
-- Change token buckets after a call (app/providers/guard_store.py). KEYS: the buckets. ARGV[1] operation: 'give'
-- (add back, capped at capacity), 'charge' (take, debt allowed), 'clamp' (lower to at most the amount: the proxy's
-- remaining); ARGV[2] now; then per bucket: amount, capacity, refill per second. Returns the levels after.
local op, now = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 3
  local amount, cap, rate = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local level, ts = refill(KEYS[i], cap, rate, now)
  if op == 'give' then
    level = math.min(cap, level + amount)
  elseif op == 'charge' then
    level = level - amount
  elseif amount < level then
    level = amount
  end
  store_bucket(KEYS[i], level, ts, cap, rate)
  table.insert(out, fstr(level))
end
return out

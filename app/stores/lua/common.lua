-- costmux: helpers prepended to every script (app/stores/lua/common.lua).
-- Money is exact: atto-USD (1e-18 USD) integers kept as two limbs, high = floor(x / 1e15), low = x mod 1e15, so that
-- Lua's doubles (exact to 2^53) never round. Fields: <f>h and <f>l. Amounts are formatted with %.0f (exact).
-- (Budget windows are read and written through budget_windows.lua: one HMGET and one HSET per window per call.)
local LIMB = 1e15

local function num(value)
  if value then return tonumber(value) end
  return 0
end

local function norm(h, l)
  local carry = math.floor(l / LIMB)
  return h + carry, l - carry * LIMB
end

local function fmt(x)
  return string.format('%.0f', x)
end

-- a <= b for two-limb values
local function le2(ah, al, bh, bl)
  return ah < bh or (ah == bh and al <= bl)
end

-- float text that reads back exactly (bucket levels, times)
local function fstr(x)
  return string.format('%.17g', x)
end

-- a configuration name made safe inside a key, as app/stores/redis_client.py's escape_key_part does
local function escape_part(name)
  return (name:gsub('%%', '%%25'):gsub('{', '%%7B'):gsub('}', '%%7D'))
end

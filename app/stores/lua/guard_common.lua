-- Helpers of the guard scripts: token buckets (hash: level, ts) and the circuit breaker's failure window (a ring of
-- 10 buckets of window_s / 10 seconds: fields i<slot> bucket index, r<slot> requests, f<slot> failures).
local EPS = 1e-9
local SLOTS = 10

local function refill(key, cap, rate, now)
  local v = redis.call('HMGET', key, 'level', 'ts')
  if not v[1] then return cap, now end  -- a new bucket starts full
  local level, ts = tonumber(v[1]), tonumber(v[2])
  local elapsed = now - ts
  if elapsed < 0 then elapsed = 0 end  -- a clock going backwards refills nothing
  level = level + elapsed * rate
  if level > cap then level = cap end
  if ts > now then now = ts end
  return level, now
end

local function store_bucket(key, level, ts, cap, rate)
  redis.call('HSET', key, 'level', fstr(level), 'ts', fstr(ts))
  -- forgotten once it would be full again anyway (a missing bucket is a full one)
  redis.call('EXPIRE', key, math.ceil((cap - level) / rate) + 2)
end

local function wait_s(level, amount, cap, rate)
  if amount > cap + EPS then return math.huge end
  local deficit = amount - level
  if deficit <= EPS then return 0 end
  return deficit / rate
end

-- count one outcome (count of them) in the ring: one HMGET and one HSET; extra: more field, value pairs for the HSET
local function ring_add(key, now, width, failed, count, extra)
  local idx = math.floor(now / width)
  local slot = idx % SLOTS
  local v = redis.call('HMGET', key, 'i' .. slot, 'r' .. slot, 'f' .. slot)
  local requests, failures = num(v[2]), num(v[3])
  if tonumber(v[1] or '-1') < idx then requests, failures = 0, 0 end
  requests = requests + count
  if failed then failures = failures + count end
  local args = {'i' .. slot, fmt(idx), 'r' .. slot, fmt(requests), 'f' .. slot, fmt(failures)}
  for _, x in ipairs(extra or {}) do table.insert(args, x) end
  redis.call('HSET', key, unpack(args))
end

-- requests and failures in the ring's live slots: one HMGET of every slot
local function ring_totals(key, now, width)
  local oldest = math.floor(now / width) - SLOTS + 1
  local fields = {}
  for slot = 0, SLOTS - 1 do
    table.insert(fields, 'i' .. slot); table.insert(fields, 'r' .. slot); table.insert(fields, 'f' .. slot)
  end
  local v = redis.call('HMGET', key, unpack(fields))
  local requests, failures = 0, 0
  for slot = 0, SLOTS - 1 do
    local at = slot * 3
    if v[at + 1] and tonumber(v[at + 1]) >= oldest then
      requests = requests + num(v[at + 2])
      failures = failures + num(v[at + 3])
    end
  end
  return requests, failures
end

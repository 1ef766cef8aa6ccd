-- Budget windows read once and written once per script call (app/budgets/store.py). A window is a hash of two
-- two-limb amounts: spent (sh, sl) and reserved (rh, rl). The first use of a window in a call reads all four fields
-- in one HMGET; every change after that is made in a Lua table, and win_flush() writes each changed window back in
-- one HSET, in the order they were first changed (deterministic). A window key exists iff it has fields: only
-- reserve creates one (with its expiry), reap and settle change existing ones only.
local windows, changed = {}, {}

local function win(key)
  local w = windows[key]
  if not w then
    local v = redis.call('HMGET', key, 'sh', 'sl', 'rh', 'rl')
    w = {num(v[1]), num(v[2]), num(v[3]), num(v[4]), exists = (v[1] or v[2] or v[3] or v[4]) and true or false}
    windows[key] = w
  end
  return w
end

-- add (dh, dl) to spent (i = 1) or reserved (i = 3) of the window
local function win_add(key, i, dh, dl)
  local w = win(key)
  w[i], w[i + 1] = norm(w[i] + dh, w[i + 1] + dl)
  if not w.changed then
    w.changed = true
    table.insert(changed, key)
  end
end

local function win_flush()
  for _, key in ipairs(changed) do
    local w = windows[key]
    redis.call('HSET', key, 'sh', fmt(w[1]), 'sl', fmt(w[2]), 'rh', fmt(w[3]), 'rl', fmt(w[4]))
    w.changed = false
  end
  changed = {}
end

-- spent h, spent l, reserved h, reserved l of the window appended to out
local function win_out(out, key)
  local w = win(key)
  for i = 1, 4 do table.insert(out, fmt(w[i])) end
end

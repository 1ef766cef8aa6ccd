-- Reservations whose expiry passed (their replica died mid-request) are charged their amount: the request may have
-- been generated and billed, as a failure with no answer is (app/budgets/store.py). At most 100 per call.
-- Every key touched carries the budgets' hash tag, so it is on this node even in a Redis Cluster.
-- Needs budget_windows.lua (included before it); the caller flushes the windows.
local function reap(zset, now)
  local holds = redis.call('ZRANGEBYSCORE', zset, '-inf', fstr(now), 'LIMIT', 0, 100)
  for _, hold in ipairs(holds) do
    local rec = redis.call('HMGET', hold, 'state', 'ah', 'al', 'lines')
    if rec[1] == 'reserved' then
      local ah, al = num(rec[2]), num(rec[3])
      for line in string.gmatch(rec[4] or '', '[^\n]+') do
        if win(line).exists then
          win_add(line, 3, -ah, -al)
          win_add(line, 1, ah, al)
        end
      end
      redis.call('HSET', hold, 'state', 'expired')
    end
    redis.call('ZREM', zset, hold)
  end
end

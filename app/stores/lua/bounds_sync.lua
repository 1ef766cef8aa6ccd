-- The shared prompt-bound calibration (app/stores/bounds.py): push this replica's new observations, read the ones
-- other replicas pushed since its last sync, in one atomic call.
--
-- Every entry of a window list is '<revision>:<value>': the revision of the push that added it (one INCR per push),
-- so a replica reads only what is newer than what it has, and skips its own pushes.
--
-- KEYS[1] models (sorted set: model -> revision of its last push), KEYS[2] revision counter, KEYS[3] epoch (a random
-- id made when the calibration is created: a replica that knew another one reads everything again), then per pushed
-- group i: KEYS[2 + 2i] its window list, KEYS[3 + 2i] its model's set of series.
-- ARGV[1] the epoch the replica knows ('' at first), ARGV[2] a new epoch id (used if there is none), ARGV[3] the
-- revision the replica has read up to, ARGV[4] window size, ARGV[5] most models kept, ARGV[6] expiry of unused state
-- (ms), ARGV[7] prefix of window keys, ARGV[8] prefix of series-set keys, ARGV[9] the replica's earlier pushes of
-- this sync (revisions, comma-separated; '' for none), ARGV[10] whether to read ('1') or only push ('0'),
-- ARGV[11] number of pushed groups, then per group: model, series, n, n values.
-- Returns {epoch, revision, this push's revision (0: none), {model, series, {entries newest first}, ...}}.
local models, counter, epoch_key = KEYS[1], KEYS[2], KEYS[3]
local window, max_models, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local window_prefix, series_prefix = ARGV[7], ARGV[8]

local epoch = redis.call('GET', epoch_key)
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', epoch_key, epoch, 'PX', ttl)
end
local since = tonumber(ARGV[3])
if epoch ~= ARGV[1] then since = 0 end

-- a model's part of a key: its window keys are '<prefix><model>:<series>', so ':' is escaped in the model
local function model_part(model)
  return (escape_part(model):gsub(':', '%%3A'))
end

local function forget(model)
  local series_key = series_prefix .. model_part(model)
  for _, series in ipairs(redis.call('SMEMBERS', series_key)) do
    redis.call('DEL', window_prefix .. model_part(model) .. ':' .. escape_part(series))
  end
  redis.call('DEL', series_key)
end

local own = 0
local groups = tonumber(ARGV[11])
if groups > 0 then
  own = redis.call('INCR', counter)
  local a = 12
  for i = 1, groups do
    local model, series, n = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
    local list, series_key = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
    local entries = {}
    for j = 1, n do entries[j] = own .. ':' .. ARGV[a + 2 + j] end
    redis.call('RPUSH', list, unpack(entries))
    redis.call('LTRIM', list, -window, -1)
    redis.call('PEXPIRE', list, ttl)
    redis.call('SADD', series_key, series)
    redis.call('PEXPIRE', series_key, ttl)
    redis.call('ZADD', models, own, model)
    a = a + 3 + n
  end
  local extra = redis.call('ZCARD', models) - max_models
  if extra > 0 then  -- the least recently pushed models are forgotten
    for _, model in ipairs(redis.call('ZRANGE', models, 0, extra - 1)) do forget(model) end
    redis.call('ZREMRANGEBYRANK', models, 0, extra - 1)
  end
  for _, key in ipairs({models, counter, epoch_key}) do redis.call('PEXPIRE', key, ttl) end
end

local changes = {}
if ARGV[10] == '1' then
  local mine = {[own] = true}
  for rev in string.gmatch(ARGV[9], '%d+') do mine[tonumber(rev)] = true end
  local function revision_of(entry)
    return tonumber(string.match(entry, '^(%d+):'))
  end
  -- the entries of a list newer than `since`, newest first, without this replica's: read from the tail in chunks
  local function fresh(list)
    local k = 16
    if since == 0 then k = window end
    while true do
      local chunk = redis.call('LRANGE', list, -k, -1)
      if #chunk < k or #chunk == 0 or revision_of(chunk[1]) <= since or k >= window then
        local out = {}
        for j = #chunk, 1, -1 do
          local rev = revision_of(chunk[j])
          if rev <= since then break end
          if not mine[rev] then out[#out + 1] = chunk[j] end
        end
        return out
      end
      k = math.min(k * 4, window)
    end
  end
  for _, model in ipairs(redis.call('ZRANGEBYSCORE', models, '(' .. since, '+inf')) do
    local series_key = series_prefix .. model_part(model)
    local names = redis.call('SMEMBERS', series_key)
    if #names == 0 then
      redis.call('ZREM', models, model)  -- its state expired
    end
    for _, series in ipairs(names) do
      local entries = fresh(window_prefix .. model_part(model) .. ':' .. escape_part(series))
      if #entries > 0 then
        changes[#changes + 1] = model
        changes[#changes + 1] = series
        changes[#changes + 1] = entries
      end
    end
  end
end
return {epoch, redis.call('GET', counter) or '0', own, changes}

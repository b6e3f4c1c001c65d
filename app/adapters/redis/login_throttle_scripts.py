"""The Lua scripts of ``RedisLoginThrottle``; each reads the clock of Redis (``TIME``).

Each script touches the keys of one scope only, which share one hash tag (so
one slot of a Redis Cluster): the address's (its failures, its successful
logins) or the account's (its failures, its known addresses, its device
tokens' failures, its successful logins). Failure counters are hashes
(f = failures, t = ms of the last counted attempt, r = the t whose block was
reported); success counters hold a GCRA "theoretical arrival time". A login
attempt runs the address's script, then the account's (the authority), each
checking and counting in one step; see ``login_throttle`` for the order.
"""

from __future__ import annotations

from app.adapters.redis.script_clock import NOW_MS

# Shared by the admission scripts: a failure counter's wait and a GCRA rate's wait.
_WAITS = (
    NOW_MS
    + """
local first_wait, max_wait, forget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local function backoff(key, free)
    if key == '' then return 0 end
    local state = redis.call('HMGET', key, 'f', 't')
    local failures = tonumber(state[1] or '0')
    if failures < free then return 0 end
    local wait = math.min(first_wait * 2 ^ (failures - free), max_wait)
    return math.max(tonumber(state[2]) + wait - now, 0)
end
local function rate(key, interval, burst)
    if key == '' then return 0 end
    local arrival = math.max(tonumber(redis.call('GET', key) or '0'), now)
    return math.max(arrival + interval - interval * burst - now, 0)
end
local function count(key)
    if key ~= '' then
        redis.call('HINCRBY', key, 'f', 1)
        redis.call('HSET', key, 't', now)
        redis.call('PEXPIRE', key, forget)
    end
end
"""
)

# The account's scripts take all four of its keys, each an account key (one
# slot); those absent in this login are marked 0 in a mask ("1101") and read as "".
_PRESENT = """
local K = {{}}
for i = 1, #KEYS do
    K[i] = string.sub({mask}, i, i) == '1' and KEYS[i] or ''
end
"""

# KEYS: 1 the address's failures, 2 its successful logins. ARGV: 1 first wait,
# 2 max wait, 3 forget after (ms), 4 the address's free failures, 5/6 its
# success interval (ms) and burst. Returns {failure wait, success-rate wait,
# 1 if the attempt was counted}: counted when neither wait holds it back (the
# account's script may still refuse it, and the attempt is then taken back).
ADMIT_ADDRESS = (
    _WAITS
    + """
local waits = {backoff(KEYS[1], tonumber(ARGV[4])),
    rate(KEYS[2], tonumber(ARGV[5]), tonumber(ARGV[6]))}
if waits[1] > 0 or waits[2] > 0 then
    return {math.ceil(waits[1]), math.ceil(waits[2]), 0}
end
count(KEYS[1])
return {0, 0, 1}
"""
)

# KEYS: 1 the account's failures, 2 its known addresses, 3 the device token's
# failures, 4 its successful logins (see _PRESENT for those there are not). ARGV: 1 first
# wait, 2 max wait, 3 forget after (ms), 4 the address, 5 the account's free
# failures, 6/7 its success interval (ms) and burst, 8/9 the address's failure
# and success-rate waits (from ADMIT_ADDRESS), 10 the mask of present keys.
# A valid device token with fewer failures than the account's free ones lifts
# both failure waits. Otherwise an address known to the account lifts one
# scope's wait, never both (someone sharing the owner's address gets no more
# than that address's own free failures at the account). Success rates are
# never lifted. Returns {0} when admitted (the attempt then counts on keys 1
# and 3), else {remaining ms, the refusing limit: 1 account failures,
# 2 address failures, 3 account successes, 4 address successes}.
ADMIT_ACCOUNT = (
    _WAITS
    + _PRESENT.format(mask="ARGV[10]")
    + """
local account_free = tonumber(ARGV[5])
local waits = {backoff(K[1], account_free), tonumber(ARGV[8])}
local token = K[3] ~= '' and tonumber(redis.call('HGET', K[3], 'f') or '0') < account_free
if token then
    waits[1], waits[2] = 0, 0
elseif K[2] ~= '' and redis.call('SISMEMBER', K[2], ARGV[4]) == 1 then
    if waits[1] == 0 or waits[2] == 0 then
        waits[1], waits[2] = 0, 0
    end
end
waits[3] = rate(K[4], tonumber(ARGV[6]), tonumber(ARGV[7]))
waits[4] = tonumber(ARGV[9])
local longest, refusing = 0, 0
for i = 1, 4 do
    if waits[i] > longest then
        longest, refusing = waits[i], i
    end
end
if refusing > 0 then
    return {math.ceil(longest), refusing}
end
count(K[1])
count(K[3])
return {0}
"""
)

# KEYS: failure counters of one scope. ARGV: 3 forget after (ms). Counts an
# attempt whose wait was lifted (it was not counted when admitted).
COUNT_FAILURE = (
    _WAITS
    + """
for _, key in ipairs(KEYS) do
    count(key)
end
return 1
"""
)

# KEYS[1]: the refusing failure counter. 1 if this is the first refusal of its
# current block (the block is then marked reported), else 0.
FIRST_REFUSAL = """
local blocked_at = redis.call('HGET', KEYS[1], 't')
if blocked_at and redis.call('HGET', KEYS[1], 'r') ~= blocked_at then
    redis.call('HSET', KEYS[1], 'r', blocked_at)
    return 1
end
return 0
"""

# The attempt proved its password, the account's side: its failures and the
# token's are deleted, the address becomes known to it, the success counts on
# its rate. KEYS as ADMIT_ACCOUNT's. ARGV: 1 the address, 2 how long it stays
# known (ms), 3 the most known addresses, 4 the account's success interval (ms),
# 5 the mask of present keys.
ACCOUNT_SUCCEEDED = (
    NOW_MS
    + _PRESENT.format(mask="ARGV[5]")
    + """
redis.call('DEL', K[1])
if K[3] ~= '' then redis.call('DEL', K[3]) end
if K[2] ~= '' and tonumber(ARGV[2]) > 0 then
    if redis.call('SISMEMBER', K[2], ARGV[1]) == 0
        and redis.call('SCARD', K[2]) >= tonumber(ARGV[3]) then
        redis.call('SPOP', K[2])
    end
    redis.call('SADD', K[2], ARGV[1])
    redis.call('PEXPIRE', K[2], ARGV[2])
end
local interval = tonumber(ARGV[4])
local arrival = math.max(tonumber(redis.call('GET', K[4]) or '0'), now) + interval
redis.call('SET', K[4], arrival, 'PX', math.ceil(arrival - now))
return 1
"""
)

# The address's side of a proved password: it takes this attempt back and the
# success counts on its rate. KEYS as ADMIT_ADDRESS's. ARGV: 1 the success interval (ms).
ADDRESS_SUCCEEDED = (
    NOW_MS
    + """
if tonumber(redis.call('HGET', KEYS[1], 'f') or '0') > 0 then
    redis.call('HINCRBY', KEYS[1], 'f', -1)
end
local interval = tonumber(ARGV[1])
local arrival = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), now) + interval
redis.call('SET', KEYS[2], arrival, 'PX', math.ceil(arrival - now))
return 1
"""
)

# KEYS: failure counters of one scope. An attempt never judged (a store
# outage) or refused by the other scope is taken back from each.
WITHDRAWN = """
for _, key in ipairs(KEYS) do
    if tonumber(redis.call('HGET', key, 'f') or '0') > 0 then
        redis.call('HINCRBY', key, 'f', -1)
    end
end
return 1
"""

# KEYS[1]: the action's key for the address. ARGV: emission interval (ms), limit.
# Returns 0 when admitted, else the ms until the next call would be.
ADMIT_ACTION = (
    NOW_MS
    + """
local interval, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local arrival = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local next_arrival = arrival + interval
local allowed_at = next_arrival - interval * limit
if allowed_at > now then
    return math.ceil(allowed_at - now)
end
redis.call('SET', KEYS[1], next_arrival, 'PX', math.ceil(next_arrival - now))
return 0
"""
)

"""The Lua scripts of ``RedisLoginThrottle``; each reads the clock of Redis (``TIME``).

Every login script takes the same six KEYS, "" where there is none:
1 the account's failures, 2 the address's failures, 3 the account's known
addresses, 4 the device token's failures, 5 the account's successful logins,
6 the address's successful logins. Failure counters are hashes (f = failures,
t = ms of the last counted attempt, r = the t whose block was reported);
success counters hold a GCRA "theoretical arrival time".
"""

from __future__ import annotations

from app.adapters.redis.script_clock import NOW_MS

# ARGV: 1 first wait, 2 max wait, 3 forget after (ms), 4 the address,
# 5 the account's free failures, 6 the address's, 7/8 the account's success
# interval (ms) and burst, 9/10 the address's.
# A valid device token with fewer failures than the account's free ones lifts
# both failure waits. Otherwise an address known to the account lifts one
# scope's wait, never both (someone sharing the owner's address gets no more
# than that address's own free failures at the account). Success rates are
# never lifted. Returns {0} when admitted (the attempt then counts on keys 1,
# 2 and 4), else {remaining ms, index of the refusing key, first refusal 0/1}.
ADMIT_LOGIN = (
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
local account_free = tonumber(ARGV[5])
local waits = {backoff(KEYS[1], account_free), backoff(KEYS[2], tonumber(ARGV[6]))}
local token = KEYS[4] ~= '' and tonumber(redis.call('HGET', KEYS[4], 'f') or '0') < account_free
if token then
    waits[1], waits[2] = 0, 0
elseif KEYS[3] ~= '' and redis.call('SISMEMBER', KEYS[3], ARGV[4]) == 1 then
    if waits[1] == 0 or waits[2] == 0 then
        waits[1], waits[2] = 0, 0
    end
end
waits[3] = rate(KEYS[5], tonumber(ARGV[7]), tonumber(ARGV[8]))
waits[4] = rate(KEYS[6], tonumber(ARGV[9]), tonumber(ARGV[10]))
local longest, refusing = 0, 0
for i = 1, 4 do
    if waits[i] > longest then
        longest, refusing = waits[i], i
    end
end
if refusing > 0 then
    local first = 0
    if refusing <= 2 then
        local key = KEYS[refusing]
        local blocked_at = redis.call('HGET', key, 't')
        if redis.call('HGET', key, 'r') ~= blocked_at then
            redis.call('HSET', key, 'r', blocked_at)
            first = 1
        end
    end
    return {math.ceil(longest), refusing, first}
end
for _, i in ipairs({1, 2, 4}) do
    if KEYS[i] ~= '' then
        redis.call('HINCRBY', KEYS[i], 'f', 1)
        redis.call('HSET', KEYS[i], 't', now)
        redis.call('PEXPIRE', KEYS[i], forget)
    end
end
return {0}
"""
)

# The attempt proved its password: the account's and the token's failures are
# deleted, the address's takes this attempt back, the address becomes known
# to the account, and the success counts on both rates. ARGV: 1 the address,
# 2 how long it stays known (ms), 3 the most known addresses, 4 the account's
# success interval (ms), 5 the address's.
SUCCEEDED = (
    NOW_MS
    + """
redis.call('DEL', KEYS[1])
if KEYS[4] ~= '' then redis.call('DEL', KEYS[4]) end
if KEYS[2] ~= '' and tonumber(redis.call('HGET', KEYS[2], 'f') or '0') > 0 then
    redis.call('HINCRBY', KEYS[2], 'f', -1)
end
if KEYS[3] ~= '' and tonumber(ARGV[2]) > 0 then
    if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0
        and redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[3]) then
        redis.call('SPOP', KEYS[3])
    end
    redis.call('SADD', KEYS[3], ARGV[1])
    redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
for _, slot in ipairs({{5, 4}, {6, 5}}) do
    local key, interval = KEYS[slot[1]], tonumber(ARGV[slot[2]])
    if key ~= '' then
        local arrival = math.max(tonumber(redis.call('GET', key) or '0'), now) + interval
        redis.call('SET', key, arrival, 'PX', math.ceil(arrival - now))
    end
end
return 1
"""
)

# The attempt ended in a store outage: it was never judged, so it is taken
# back from every failure counter it was counted on (keys 1, 2 and 4).
WITHDRAWN = """
for _, i in ipairs({1, 2, 4}) do
    if KEYS[i] ~= '' and tonumber(redis.call('HGET', KEYS[i], 'f') or '0') > 0 then
        redis.call('HINCRBY', KEYS[i], 'f', -1)
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

"""The Lua scripts behind ``SessionRedisRepository``: each one atomic step.

Layout, under the service's key prefix (names in ``session_keys``; on a Redis
Cluster each key of a user carries the user's id as its hash tag):

* ``session:<sha256(id)>`` — a hash: ``user_id``, ``created_at``,
  ``last_seen``, ``expires_at`` (absolute; times in Unix milliseconds),
  ``epoch`` (the user's sessions epoch at creation), ``handle``, ``address``,
  ``user_agent``, ``mfa`` (``1`` when made with a second factor; absent on
  sessions made before it was kept); it expires (``PEXPIREAT``) an idle timeout after its last
  use, never past ``expires_at``.
* ``user-sessions:<user id>`` — a sorted set of the user's session digests
  by creation time (the per-user index and cap).
* ``principal:<user id>`` — a hash: ``user`` (JSON), ``status``,
  ``version``, ``epoch``, ``fresh_until`` (ms), and ``ended_by`` (the reason of
  the last epoch bump). Written only over an older or equal version.

Every script that changes state appends its events *before* it deletes or
writes a session, so a failing append stops the script with nothing changed.
The events go to the last of the script's KEYS: on one Redis the events
stream itself; on a cluster (``p.staged``) the user's ``session-events`` list,
in the user's slot, from which ``session_events`` appends them to the stream
after the script. Each ended session gets its own ``session.revoked`` event,
whose id is derived from a random base id passed in and the session's digest
(a SHA-1 shaped as a version-8 UUID). Parameters travel as one JSON object in
``ARGV[1]``; ``ARGV[2…]`` are an event's fields (name, value, …).

The rules the scripts apply are those of :mod:`app.domain.sessions` (each step
names its function there); ``tests/contract`` runs the same tests against these
scripts and the in-memory store that applies the functions themselves.

Every time a script decides on or stores is Redis's (``TIME``), never the
calling instance's: instances whose clocks disagree still agree on when a
session ends, and a key's expiry is an absolute moment of Redis's clock.

Every key a script touches is among its KEYS, but the sessions of a user's
index: the script names those from ``p.sessions`` (the prefix of that user's
session keys, in the index's slot on a cluster).
"""

from __future__ import annotations

from app.adapters.redis.script_clock import NOW_MS

_COMMON = (
    NOW_MS
    + """
local p = cjson.decode(ARGV[1])

-- Append an event (field names and values, flat) to the events key, KEYS[#KEYS].
local function publish(fields)
    if p.staged then
        redis.call('RPUSH', KEYS[#KEYS], cjson.encode(fields))
    else
        redis.call('XADD', KEYS[#KEYS], 'MAXLEN', '~', p.maxlen, '*', unpack(fields))
    end
end

local function event_id(salt)
    local h = redis.sha1hex(p.base .. salt)
    return string.sub(h, 1, 8) .. '-' .. string.sub(h, 9, 12) .. '-8' .. string.sub(h, 14, 16)
        .. '-a' .. string.sub(h, 18, 20) .. '-' .. string.sub(h, 21, 32)
end

-- End one session: its session.revoked event, then the key and its entry in index.
local function end_session(index, digest, reason)
    local key = p.sessions .. digest
    local s = redis.call('HMGET', key, 'user_id', 'handle')
    if not s[1] then
        return 0
    end
    local data = {}
    for name, value in pairs(p.data) do
        data[name] = value
    end
    data.handle = s[2]
    data.reason = reason
    local fields = {'event_id', event_id(digest), 'user_id', s[1], 'data', cjson.encode(data)}
    for i = 1, #p.revoked do
        fields[#fields + 1] = p.revoked[i]
    end
    publish(fields)
    redis.call('DEL', key)
    redis.call('ZREM', index, digest)
    return 1
end

-- Write a principal unless the stored one is newer (replaces_principal); 1 if written.
local function put_principal(key, principal)
    local stored = redis.call('HGET', key, 'version')
    if stored and tonumber(stored) > principal.version then
        return 0
    end
    redis.call('HSET', key, 'user', principal.user, 'status', principal.status,
        'version', principal.version, 'epoch', principal.epoch,
        'fresh_until', now + p.refresh_ms)
    redis.call('PEXPIREAT', key, now + p.principal_ttl * 1000)
    return 1
end
"""
)

# KEYS: session, index, principal, events. Refuses (-1) when the principal,
# once written, is disabled or of a newer epoch than the session would carry.
# Returns how many sessions the cap ended.
CREATE = (
    _COMMON
    + """
put_principal(KEYS[3], p.principal)
-- ended_by_principal: the stored principal refuses a session it would end.
local stored = redis.call('HMGET', KEYS[3], 'status', 'epoch')
if stored[1] == 'disabled' or tonumber(stored[2]) > p.epoch then
    return -1
end
publish({unpack(ARGV, 2)})
-- SessionTimes.opened, then its idle_deadline.
local expires_at = now + p.lifetime * 1000
redis.call('HSET', KEYS[1], 'user_id', p.user_id, 'created_at', now, 'last_seen', now,
    'expires_at', expires_at, 'epoch', p.epoch, 'handle', p.handle,
    'address', p.address, 'user_agent', p.user_agent, 'mfa', p.mfa)
redis.call('PEXPIREAT', KEYS[1], math.min(now + p.idle_ttl * 1000, expires_at))
redis.call('ZADD', KEYS[2], now, p.digest)
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if redis.call('EXISTS', p.sessions .. member) == 0 then
        redis.call('ZREM', KEYS[2], member)
    end
end
-- over_cap: the oldest sessions beyond the cap end.
local ended = 0
local over = redis.call('ZCARD', KEYS[2]) - p.cap
if over > 0 then
    for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
        ended = ended + end_session(KEYS[2], member, 'cap')
    end
end
redis.call('PEXPIREAT', KEYS[2], expires_at)
return ended
"""
)

# KEYS: session, index, principal, events, all of p.user_id (the user the id
# names). False when unknown or another user's; else {user id, epoch, ended
# reason or '', then the principal's user, status, version, epoch, and '1' if
# it is past its fresh_until (else '0'), when there is one}.
RESOLVE = (
    _COMMON
    + """
local s = redis.call('HMGET', KEYS[1], 'user_id', 'expires_at', 'epoch')
if s[1] ~= p.user_id then
    return false
end
-- ending: first the lifetime (SessionTimes.outlived), then ended_by_principal.
local expires_at = tonumber(s[2])
if now >= expires_at then
    end_session(KEYS[2], p.digest, 'lifetime')
    return {s[1], s[3], 'lifetime'}
end
local pr = redis.call('HMGET', KEYS[3], 'user', 'status', 'version', 'epoch', 'fresh_until',
    'ended_by')
if pr[1] then
    local reason = nil
    if pr[2] == 'disabled' then
        reason = 'disabled'
    elseif tonumber(pr[4]) > tonumber(s[3]) then
        reason = pr[6] or 'revoked'
    end
    if reason then
        end_session(KEYS[2], p.digest, reason)
        return {s[1], s[3], reason}
    end
end
-- SessionTimes.touched, then its idle_deadline.
redis.call('PEXPIREAT', KEYS[1], math.min(now + p.idle_ttl * 1000, expires_at))
redis.call('HSET', KEYS[1], 'last_seen', now)
if not pr[1] then
    return {s[1], s[3], ''}
end
-- is_stale
local stale = (tonumber(pr[5]) or 0) <= now and '1' or '0'
return {s[1], s[3], '', pr[1], pr[2], pr[3], pr[4], stale}
"""
)

# KEYS: principal.
PUT_PRINCIPAL = _COMMON + "return put_principal(KEYS[1], p.principal)\n"

# KEYS: session, index, events, all of p.user_id. Logout: the user.logged_out
# event (ARGV[2…]) stamped with the session's user, then the session and its
# index entry go. The user id, or false.
END = (
    _COMMON
    + """
local user_id = redis.call('HGET', KEYS[1], 'user_id')
if user_id ~= p.user_id then
    return false
end
publish({'user_id', user_id, unpack(ARGV, 2)})
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], p.digest)
return user_id
"""
)

# KEYS: index, principal, events. Ends every session but p.keep; with
# p.principal, writes it first and moves the kept session to its epoch; with
# p.forget, drops the principal. The number ended.
REVOKE_ALL = (
    _COMMON
    + """
if p.principal and put_principal(KEYS[2], p.principal) == 1 then
    redis.call('HSET', KEYS[2], 'ended_by', p.reason)
end
local ended = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local key = p.sessions .. member
    if member == p.keep then
        if p.principal and redis.call('EXISTS', key) == 1 then
            redis.call('HSET', key, 'epoch', p.principal.epoch)
        end
    elseif end_session(KEYS[1], member, p.reason) == 0 then
        redis.call('ZREM', KEYS[1], member)
    else
        ended = ended + 1
    end
end
if p.forget then
    redis.call('DEL', KEYS[2])
end
return ended
"""
)

# KEYS: index, events. Ends the session with handle p.handle; 1 if there was one.
REVOKE = (
    _COMMON
    + """
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if redis.call('HGET', p.sessions .. member, 'handle') == p.handle then
        return end_session(KEYS[1], member, p.reason)
    end
end
return 0
"""
)

# KEYS: index, principal. The live sessions, newest first: for each, its digest,
# created_at, last_seen, expires_at, address, user_agent, handle, mfa. Drops index
# entries whose session is gone; skips sessions past their lifetime or epoch.
LIST = (
    NOW_MS
    + """
local p = cjson.decode(ARGV[1])
local epoch = tonumber(redis.call('HGET', KEYS[2], 'epoch') or '0')
local out = {}
for _, member in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
    local s = redis.call('HMGET', p.sessions .. member, 'created_at', 'last_seen',
        'expires_at', 'address', 'user_agent', 'handle', 'epoch', 'mfa')
    if not s[1] then
        redis.call('ZREM', KEYS[1], member)
    elseif tonumber(s[3]) > now and tonumber(s[7]) >= epoch then  -- is_listed
        out[#out + 1] = member
        for i = 1, 6 do
            out[#out + 1] = s[i]
        end
        out[#out + 1] = s[8] or '0'
    end
end
return out
"""
)

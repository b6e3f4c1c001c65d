"""Redis's clock, as the Lua scripts read it: the one clock every instance shares."""

from __future__ import annotations

# Sets ``now`` to Redis's time in Unix milliseconds. Redis 7 replicates a
# script's effects, not the script, so reading TIME before writing is allowed.
NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

"""The Lua scripts of the Redis store: each touches keys of one hash slot only.

Value, generation and lock of a key share the key's ``{hash tag}``; all tag versions of a
prefix share one; so every script stays legal on Redis Cluster.
"""

from __future__ import annotations

#: Store a loaded value only if the key's generation is the one seen before loading.
FILL = """
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
#: A write: store and advance the generation, so in-flight fills are refused.
WRITE = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
"""
DELETE = """
local n = redis.call('UNLINK', KEYS[1])
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return n
"""
#: New version token for every tag (O(1) per tag), then tell the other processes.
INVALIDATE = """
for i, key in ipairs(KEYS) do redis.call('SET', key, ARGV[1], 'PX', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return #KEYS
"""
#: Current version tokens of tags, creating the missing ones (never "absent" at rest).
SNAPSHOT = """
for i, key in ipairs(KEYS) do redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) end
return redis.call('MGET', unpack(KEYS))
"""
INCR = """
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return n
"""
#: Rewrite an envelope's three deadlines (bytes 3..26) and its TTL; counters just expire.
EXPIRE = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if string.byte(v, 1) == 254 then
  local t = tonumber(ARGV[2])
  v = string.sub(v, 1, 2) .. struct.pack('<ddd', t, t, t) .. string.sub(v, 27)
  redis.call('SET', KEYS[1], v, 'PX', ARGV[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 1
"""

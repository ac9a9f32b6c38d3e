-- Compare-and-swap of one value, keeping its TTL. 1: swapped; -1: it changed or is gone
-- (read again).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1

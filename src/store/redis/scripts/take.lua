-- Removes the secret, its counters and its queued mail, and rewrites the receipt, if the
-- secret exists, is not locked by wrong passphrases (KEYS[4]'s `u` after ARGV[3], now) and the
-- receipt is as read. 1: done; 0: no secret, or locked; -1: the receipt changed meanwhile
-- (read again). KEYS[3] is the counters' key of earlier versions, removed with the rest;
-- KEYS[5] the queued mail.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local locked_until = tonumber(redis.call('HGET', KEYS[4], 'u') or '0')
if tonumber(ARGV[3]) < locked_until then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[5])
redis.call('SET', KEYS[2], ARGV[2], 'KEEPTTL')
return 1

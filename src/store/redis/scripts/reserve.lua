-- Reserves one passphrase guess (the same rules as Guesses::reserve in
-- src/store/record/guess.rs), in one step on the server so that nodes racing for the same
-- secret never overcount the budget.
-- KEYS: the secret, its counters (a hash). ARGV: now, client tag (hex), per-address budget,
-- total budget, window, lockout, the secret's expiry.
-- 0: no secret; 1: granted; 2: locked already; 3: this reservation locked it.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local now = tonumber(ARGV[1])
local locked_until = tonumber(redis.call('HGET', KEYS[2], 'u') or '0')
if now < locked_until then return 2 end
-- A new window when the last one has passed or a lock has ended.
local start = tonumber(redis.call('HGET', KEYS[2], 'w') or '0')
if locked_until > 0 or now >= start + tonumber(ARGV[5]) then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 'w', now, 't', 0, 'u', 0)
end
local ip = 'i:' .. ARGV[2]
local mine = tonumber(redis.call('HGET', KEYS[2], ip) or '0')
local total = tonumber(redis.call('HGET', KEYS[2], 't') or '0')
local outcome = 1
if mine >= tonumber(ARGV[3]) or total >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[2], 'u', now + tonumber(ARGV[6]))
  outcome = 3
else
  redis.call('HINCRBY', KEYS[2], ip, 1)
  redis.call('HINCRBY', KEYS[2], 't', 1)
end
redis.call('EXPIREAT', KEYS[2], ARGV[7])
return outcome

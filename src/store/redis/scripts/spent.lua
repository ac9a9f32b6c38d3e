-- Locks the secret when a wrong guess used up a budget (the same rules as Guesses::spent in
-- src/store/record/guess.rs). KEYS: the secret, its counters. ARGV: now, client tag (hex),
-- per-address budget, total budget, window, lockout. 1: this call locked it; 0: not.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local now = tonumber(ARGV[1])
if tonumber(redis.call('HGET', KEYS[2], 'u') or '0') > 0 then return 0 end
local start = redis.call('HGET', KEYS[2], 'w')
if start == false or now >= tonumber(start) + tonumber(ARGV[5]) then return 0 end
local mine = tonumber(redis.call('HGET', KEYS[2], 'i:' .. ARGV[2]) or '0')
local total = tonumber(redis.call('HGET', KEYS[2], 't') or '0')
if mine >= tonumber(ARGV[3]) or total >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[2], 'u', now + tonumber(ARGV[6]))
  return 1
end
return 0

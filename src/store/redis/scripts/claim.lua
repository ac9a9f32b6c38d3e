-- Claims due outbox mail for this node (pushes its next attempt out by a lease) and returns
-- the claimed metadata ids. The mails themselves sit beside their secrets, in other slots.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[3], id)
end
return ids

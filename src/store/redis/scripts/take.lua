-- Reveal and burn, in one step and without a read first: takes the secret (removes it, its
-- counters and its queued mail) and records the receipt's fate beside the receipt.
-- KEYS: the secret, the receipt, the counters of earlier versions, the counters, the queued
-- mail, the receipt's fate (see the module doc of src/store/redis/mod.rs).
-- ARGV: what to take ('plain': only a secret without passphrase, else hand it back untaken;
-- 'take': any; 'burn': any, while its receipt is unread), now, the time a passphrase lock is
-- compared with (now, or u64::MAX to take despite a lock), the fate ('r' or 'b' and now).
-- Reply, always three: {0, '', ''}: no secret, its time is up, no receipt, or locked;
-- {1, secret, receipt}: taken; {2, secret, ''}: it needs a passphrase, left in place ('plain'
-- only).

-- A postcard varint (LEB128) at byte i: its value and the next index; nil past the end.
local function varint(s, i)
  local value, scale = 0, 1
  while true do
    local b = string.byte(s, i)
    if b == nil then return nil, i end
    value = value + (b % 128) * scale
    i = i + 1
    if b < 128 then return value, i end
    scale = scale * 128
  end
end

local secret = redis.call('GET', KEYS[1])
if not secret then return {0, '', ''} end
-- A SecretRecord starts: metadata id (32 bytes), created, expires_at (varints), then kdf, an
-- Option (0: none, 1: a passphrase).
local _, i = varint(secret, 33)
local expires_at
expires_at, i = varint(secret, i or #secret + 1)
local kdf = string.byte(secret, i)
if expires_at == nil or kdf == nil then return redis.error_reply('corrupt secret record') end
if expires_at <= tonumber(ARGV[2]) then return {0, '', ''} end
local receipt = redis.call('GET', KEYS[2])
if not receipt or redis.call('EXISTS', KEYS[6]) == 1 then return {0, '', ''} end
if ARGV[1] == 'plain' and kdf ~= 0 then return {2, secret, ''} end
local locked_until = tonumber(redis.call('HGET', KEYS[4], 'u') or '0')
if tonumber(ARGV[3]) < locked_until then return {0, '', ''} end
-- A ReceiptRecord starts: secret id (32 bytes), then its state (0: new).
if ARGV[1] == 'burn' and string.byte(receipt, 33) ~= 0 then return {0, '', ''} end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[5])
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then
  redis.call('SET', KEYS[6], ARGV[4], 'PX', ttl)
else
  redis.call('SET', KEYS[6], ARGV[4])
end
return {1, secret, receipt}

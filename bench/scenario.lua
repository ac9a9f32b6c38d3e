-- wrk script for bench/run. One file, three modes, chosen by the environment:
--
--   BENCH_MODE=post     POST BENCH_BODY to BENCH_PATH (static request, no per-request Lua).
--   BENCH_MODE=collect  as post, and append the key of every 200 response to
--                       "$BENCH_KEYS.<thread>" (the first capture of the Lua pattern
--                       BENCH_KEY_PATTERN, by default onetime's secret_key); a thread stops once
--                       it has BENCH_QUOTA keys.
--   BENCH_MODE=reveal   thread N POSTs BENCH_BODY to BENCH_REVEAL_PATH<key> (by default
--                       /api/v1/secret/) once for every key in "$BENCH_KEYS.<N>", never
--                       repeating a key; if its keys run out it stops and the run is flagged
--                       (key_shortfall) so the figure is not trusted.
-- BENCH_DELAY_MS, when set, is the pause each connection makes before each request (a rough
-- rate cap: about connections * 1000 / BENCH_DELAY_MS requests/s; bench/footprint's churn).
-- BENCH_ACCEPT, when set, is sent as the Accept header (the peer answers JSON only when asked).
--
-- Every mode ends with one machine-readable line for bench/run:
--   BENCH requests=.. ok=.. non2xx=.. duration_us=.. p50_us=.. p99_us=.. socket_errors=.. key_shortfall=..

local mode = os.getenv("BENCH_MODE") or "post"
local body = os.getenv("BENCH_BODY") or ""
local keys_prefix = os.getenv("BENCH_KEYS")
local key_pattern = os.getenv("BENCH_KEY_PATTERN") or '"secret_key":"([0-9a-z]+)"'
local reveal_path = os.getenv("BENCH_REVEAL_PATH") or "/api/v1/secret/"

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/"
wrk.body = body
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if delay_ms then
   function delay() return delay_ms end
end
if os.getenv("BENCH_ACCEPT") then wrk.headers["Accept"] = os.getenv("BENCH_ACCEPT") end

-- main state: hand each thread its index so it can pick its own key file
local threads = {}
function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

if mode == "collect" then
   local out, got, quota
   function init(args)
      out = assert(io.open(keys_prefix .. "." .. id, "w"))
      out:setvbuf("line") -- survive wrk being interrupted: every key reaches the file
      got = 0
      quota = tonumber(os.getenv("BENCH_QUOTA")) or math.huge
   end
   function response(status, headers, resp_body)
      if status ~= 200 or got >= quota then return end
      local key = resp_body:match(key_pattern)
      if key then
         out:write(key, "\n")
         got = got + 1
         if got >= quota then out:flush(); wrk.thread:stop() end
      end
   end
elseif mode == "reveal" then
   local keys, i
   function init(args)
      keys, i = {}, 0
      local f = io.open(keys_prefix .. "." .. id, "r")
      if f then
         for line in f:lines() do if #line > 0 then keys[#keys + 1] = line end end
         f:close()
      end
      shortfall = 0
   end
   function request()
      i = i + 1
      if i > #keys then
         -- out of keys: stop this thread; anything sent now is a known-bad key
         shortfall = 1
         wrk.thread:stop()
         return wrk.format("POST", reveal_path .. "out-of-keys", nil, body)
      end
      return wrk.format("POST", reveal_path .. keys[i], nil, body)
   end
end

function done(summary, latency, requests)
   local shortfall = 0
   for _, t in ipairs(threads) do shortfall = shortfall + (tonumber(t:get("shortfall")) or 0) end
   local e = summary.errors
   -- wrk counts a response as a status error when status > 399; this server answers 200 or 404
   io.write(string.format(
      "BENCH requests=%d ok=%d non2xx=%d duration_us=%d p50_us=%d p99_us=%d socket_errors=%d key_shortfall=%d\n",
      summary.requests, summary.requests - e.status, e.status, summary.duration,
      latency:percentile(50), latency:percentile(99),
      e.connect + e.read + e.write + e.timeout, shortfall))
end

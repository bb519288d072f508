-- wrk driver for bench/run.py.
--
-- Usage: wrk -s bench/wrk/requests.lua URL -- SPEC.lua NTHREADS
-- SPEC.lua returns { method = "PUT", body_size = 4096, paths = { "/b/k?X-Amz-...", ... } }.
-- Each wrk thread takes every NTHREADS-th path and pre-formats its requests once in init(),
-- so request() only hands back a ready string: the client costs almost nothing per request
-- and large PUT bodies are not rebuilt for every request. Paths are cycled when exhausted.
-- done() prints one machine-readable line that run.py parses.

local thread_count = 0

function setup(thread)
   thread:set("tid", thread_count)
   thread_count = thread_count + 1
end

function init(args)
   local spec = dofile(args[1])
   local nthreads = tonumber(args[2]) or 1
   local body = nil
   if spec.body_size and spec.body_size > 0 then
      local pattern = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
      body = string.sub(string.rep(pattern, math.ceil(spec.body_size / #pattern)), 1, spec.body_size)
   end
   reqs = {}
   for i = 1, #spec.paths do
      if (i - 1) % nthreads == tid then
         reqs[#reqs + 1] = wrk.format(spec.method, spec.paths[i], {}, body)
      end
   end
   if #reqs == 0 then
      reqs[1] = wrk.format(spec.method, spec.paths[1], {}, body)
   end
   idx = 0
end

function request()
   idx = idx + 1
   if idx > #reqs then
      idx = 1
   end
   return reqs[idx]
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH_JSON {\"requests\": %d, \"duration_us\": %d, \"bytes\": %d, " ..
      "\"connect\": %d, \"read\": %d, \"write\": %d, \"status\": %d, \"timeout\": %d, " ..
      "\"p50_us\": %d, \"p99_us\": %d}\n",
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99)))
end

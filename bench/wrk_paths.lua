-- wrk script for `python -m bench http`: cycle through the request paths of a file (one per
-- line), each thread from its own offset, and print the results as one JSON line.
-- Usage: wrk -t2 -c32 -d10s -s bench/wrk_paths.lua http://127.0.0.1:PORT -- PATHS_FILE
-- (thread n begins 7919 * n lines on)

local threads = {}
local counter = 1

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   paths = {}
   for line in io.lines(args[1]) do
      if #line > 0 then
         paths[#paths + 1] = line
      end
   end
   counter = (id * 7919) % #paths
end

function request()
   counter = counter % #paths + 1
   return wrk.format("GET", paths[counter])
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK-RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end

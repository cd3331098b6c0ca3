-- tests/bench/invite.lua - wrk script for tests/bench/sharing.py: every
-- request is a new share (POST .../items/{itemId}/invite) with an item id
-- of the drive ("<driveId>!<prefix>-<thread>-<n>", oCIS's form) unique per
-- thread and request.
--
-- Environment: BENCH_TOKEN (sharer's bearer token), BENCH_DRIVE (drive id),
-- BENCH_GRANTEE (recipient objectId), BENCH_PREFIX (item id prefix, unique
-- per run), BENCH_RATE (optional: total requests/s to pace to, over all
-- threads; 0 or unset = as fast as possible), BENCH_THREADS (wrk -t, for
-- pacing).

local role = "b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5" -- Viewer
local drive = os.getenv("BENCH_DRIVE")
local prefix = os.getenv("BENCH_PREFIX") or "bench"
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"recipients":[{"objectId":"' .. os.getenv("BENCH_GRANTEE") ..
           '"}],"roles":["' .. role .. '"]}'

local created = 0
function setup(thread)
   created = created + 1
   thread:set("tid", created)
end

local counter = 0
function request()
   counter = counter + 1
   return wrk.format(nil, "/graph/v1beta1/drives/" .. drive .. "/items/" .. drive .. "!" ..
                     prefix .. "-" .. tostring(tid) .. "-" .. counter .. "/invite")
end

if rate > 0 then
   -- Pacing: each call reserves the next send slot of this thread's share
   -- of the rate and waits until it (whole milliseconds, as wrk wants;
   -- the schedule itself keeps exact time, so rounding does not drift).
   local ffi = require("ffi")
   ffi.cdef [[
      typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
      int clock_gettime(int clk, bench_timespec *ts);
   ]]
   local ts = ffi.new("bench_timespec")
   local function now_ms()
      ffi.C.clock_gettime(1, ts)
      return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
   end
   local interval = 1000 * nthreads / rate
   local next_slot = nil
   function delay()
      local now = now_ms()
      if next_slot == nil or next_slot < now - 100 then
         next_slot = now -- start, or fell far behind: do not burst to catch up
      end
      local wait = next_slot - now
      next_slot = next_slot + interval
      if wait < 0 then
         return 0
      end
      return math.floor(wait + 0.5)
   end
end

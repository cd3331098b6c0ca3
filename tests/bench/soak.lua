-- soak.lua - wrk script of the soak: mostly drive listings, some shares.
-- Environment (read by soak.py and passed as arguments):
--   wrk ... -s soak.lua -- TOKEN DRIVE GRANTEE
-- Counts 5xx answers per thread and prints the total at the end.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  drive = args[2]
  grantee = args[3]
  n = 0
  errors5xx = 0
  share_body = '{"recipients":[{"objectId":"' .. grantee .. '"}],"roles":["b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5"]}'
end

function request()
  n = n + 1
  local headers = {["Authorization"] = "Bearer " .. token}
  if n % (tonumber(os.getenv("SOAK_SHARE_EVERY") or "10")) == 0 then
    headers["Content-Type"] = "application/json"
    -- An item of the drive: oCIS's "<driveId>!<opaque>" form.
    local item = string.format("%s!soak-%d-%d-%d", drive, id, os.time(), n)
    return wrk.format("POST", "/graph/v1beta1/drives/" .. drive .. "/items/" .. item .. "/invite",
                      headers, share_body)
  end
  return wrk.format("GET", "/graph/v1.0/me/drives", headers)
end

function response(status, headers, body)
  if status >= 500 then
    errors5xx = errors5xx + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + t:get("errors5xx")
  end
  io.write(string.format("SOAK 5xx %d\n", total))
end

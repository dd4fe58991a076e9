-- wrk script: POST write to one of 1,000 entities of ENTITY (note or jot), each body new
-- (the thread's number in it: an unchanged value is a key-value entity's no-op, not a write).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local entity = os.getenv("ENTITY") or "note"
local threads = 0
local counter = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  math.randomseed(tid * 7919 + os.time())
end

request = function()
  counter = counter + 1
  local id = math.random(1, 1000)
  local body = '{"text":"reading ' .. tid .. "-" .. counter .. ' of a shift handover note, 64 chars"}'
  return wrk.format(nil, "/entities/" .. entity .. "/k" .. id .. "/write", nil, body)
end

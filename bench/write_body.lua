-- wrk script: POST write to one of 1,000 entities of ENTITY (note or jot), each body new.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local entity = os.getenv("ENTITY") or "note"
local counter = 0

request = function()
  counter = counter + 1
  local id = math.random(1, 1000)
  local body = '{"text":"reading ' .. counter .. ' of a shift handover note, 64 characters"}'
  return wrk.format(nil, "/entities/" .. entity .. "/k" .. id .. "/write", nil, body)
end

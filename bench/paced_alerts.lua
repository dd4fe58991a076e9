-- wrk script: raise an alert on a new patient each time (one AlertRaised each), each
-- connection pausing DELAY_MS on average between requests (see paced_vitals.lua).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local body = '{"ward":"W1","score":5,"risk":"medium","reasons":["pulse"]}'
local pause = tonumber(os.getenv("DELAY_MS") or "10")

request = function()
  local id = math.random(1, 2000000000)
  return wrk.format(nil, "/entities/alert/wrk-" .. id .. "/raise", nil, body)
end

delay = function()
  return -pause * math.log(1 - math.random())
end

-- wrk script: record-vitals to p1..p1000 at random, each connection pausing DELAY_MS between
-- requests, so that connections * 1000 / DELAY_MS approximates the offered commands/s.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local body = '{"respiration_rate":18,"spo2":96,"on_oxygen":false,"systolic_bp":118,' ..
             '"pulse":84,"consciousness":"A","temperature":37.2}'
local pause = tonumber(os.getenv("DELAY_MS") or "10")

request = function()
  local id = math.random(1, 1000)
  return wrk.format(nil, "/entities/patient/p" .. id .. "/record-vitals", nil, body)
end

delay = function()
  return pause
end

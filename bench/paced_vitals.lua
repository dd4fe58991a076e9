-- wrk script: record-vitals to p1..p1000 at random, each connection pausing DELAY_MS on average
-- between requests, so that connections * 1000 / DELAY_MS approximates the offered commands/s.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local body = '{"respiration_rate":18,"spo2":96,"on_oxygen":false,"systolic_bp":118,' ..
             '"pulse":84,"consciousness":"A","temperature":37.2}'
local pause = tonumber(os.getenv("DELAY_MS") or "10")

request = function()
  local id = math.random(1, 1000)
  return wrk.format(nil, "/entities/patient/p" .. id .. "/record-vitals", nil, body)
end

-- The pause is drawn from an exponential distribution with mean DELAY_MS (a think time), not
-- fixed: with a fixed pause the connections stay in step and the "rate" arrives as bursts of
-- one request per connection at once (50 commands every 0.5 s at 100/s). Random pauses
-- spread them out, the arrivals of an open system at the offered rate.
delay = function()
  return -pause * math.log(1 - math.random())
end

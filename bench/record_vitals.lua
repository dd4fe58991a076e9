-- wrk script: POST record-vitals to one of 1,000 admitted patients (p1..p1000), at random.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local body = '{"respiration_rate":18,"spo2":96,"on_oxygen":false,"systolic_bp":118,' ..
             '"pulse":84,"consciousness":"A","temperature":37.2}'

request = function()
  local id = math.random(1, 1000)
  return wrk.format(nil, "/entities/patient/p" .. id .. "/record-vitals", nil, body)
end

-- wrk script: POST a question no one asked before (a counter makes each
-- message new), so every request runs the sentence encoder: the embedding
-- cache's worst case. No session.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil,
    '{"message":"How long does an application take for order ' .. n .. '?"}')
end

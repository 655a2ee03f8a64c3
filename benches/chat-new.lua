-- wrk script: POST a question no one asked before (a counter makes each
-- message new), so every request runs the sentence encoder: the embedding
-- cache's worst case. No session.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- A run id and a thread id keep every question apart: from another run's
-- (each server's embedding cache would answer a second run's) and from
-- wrk's other thread's (each thread counts on its own).
math.randomseed(os.time())
local run = math.random(1, 1000000000)
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil,
    '{"message":"How long does an application take for order ' .. run .. '-' .. thread_id .. '-' .. n .. '?"}')
end

-- wrk script: POST the seed question to the chat endpoint (no session: every
-- request starts a conversation, the store's worst case).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message":"How long does an application take?"}'

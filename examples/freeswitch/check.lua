--[[ check.lua: runs the recipe's callwake part (callwake.lua) alone, against a running callwake
(`npm start`), the way ring_push_user.lua uses it: create, read the ETag, wait, cancel, read the
final view. callwake's CI runs it; FreeSWITCH is not needed.

    CALLWAKE_URL=http://127.0.0.1:3000 CALLWAKE_TENANT=t1 CALLWAKE_SECRET=... \
      lua5.4 check.lua [SIP Call-ID] [push token hex] [wait seconds] ]]

local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
package.path = here .. "/?.lua;" .. package.path
local callwake = require("callwake")

local function say(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end
local function fail(code, message)
  io.stderr:write(message, "\n")
  os.exit(code)
end
local function shown(v)
  v = callwake.value(v)
  return v == nil and "-" or tostring(v)
end
local function expect(what, status, body, ...)
  if status == nil then fail(3, "cannot reach callwake: " .. tostring(body)) end
  for _, ok in ipairs({ ... }) do
    if status == ok then return end
  end
  fail(1, what .. ": unexpected HTTP " .. tostring(status) .. ": " .. require("cjson").encode(body or ""))
end

local secret = os.getenv("CALLWAKE_SECRET")
if not secret and os.getenv("CALLWAKE_SECRET_FILE") then secret = callwake.read_secret(os.getenv("CALLWAKE_SECRET_FILE")) end
if not (os.getenv("CALLWAKE_URL") and os.getenv("CALLWAKE_TENANT") and secret) then
  fail(2, "set CALLWAKE_URL, CALLWAKE_TENANT and CALLWAKE_SECRET (or CALLWAKE_SECRET_FILE)")
end
local cw = callwake.new({ url = os.getenv("CALLWAKE_URL"), tenant = os.getenv("CALLWAKE_TENANT"), secret = secret })

local call_id = callwake.call_id_for((arg[1] and arg[1] ~= "") and arg[1] or (os.time() .. "-check@freeswitch.example.com"))
local push_token = (arg[2] and arg[2] ~= "") and arg[2] or string.rep("ab", 32)
local wait_seconds = tonumber(arg[3] or "2")

local status, headers, body = cw:create({
  callId = call_id,
  from = { number = "+15551230000", displayName = "FreeSWITCH recipe" },
  devices = { { pnProvider = "apns", pnPrid = push_token, pnParam = "LOCALTEAM1.com.example.phone.voip" } },
  ringTimeoutSeconds = 60,
})
expect("create", status, body, 200, 201)
say(string.format("create %d status=%s callUuid=%s", status, body.status, body.callUuid))

status, headers, body = cw:view(call_id)
expect("view", status, body, 200)
local etag = headers["etag"]
say(string.format("view %d status=%s etag=%s", status, body.status, etag))

say(string.format("waiting wait=%d", wait_seconds))
status, headers, body = cw:view(call_id, etag, wait_seconds)
expect("wait", status, body, 200, 304)
if status == 304 then
  say("wait 304 unchanged preference-applied=" .. shown(headers["preference-applied"]))
else
  say(string.format("wait 200 changed status=%s endReason=%s etag=%s", body.status, shown(body.endReason), headers["etag"]))
end

status, headers, body = cw:cancel(call_id, "caller_hangup")
expect("cancel", status, body, 200)
say(string.format("cancel %d status=%s endReason=%s", status, body.status, shown(body.endReason)))

status, headers, body = cw:view(call_id)
expect("final", status, body, 200)
say(string.format("final %d status=%s endReason=%s etag=%s", status, body.status, shown(body.endReason), headers["etag"]))

#!/usr/bin/env lua5.4
--[[ A PBX's side of one call, in Lua (5.1 to 5.4): sign, create, read the ETag, wait for a change,
cancel, read the final view. Needs luaossl (HMAC), lua-cjson (JSON) and luasocket (HTTP); on
Debian: apt-get install lua5.4 lua-luaossl lua-cjson lua-socket.

    CALLWAKE_URL=http://127.0.0.1:3000 CALLWAKE_TENANT=t1 CALLWAKE_SECRET=... \
      lua5.4 callwake_signer.lua [callId] [push token hex] [wait seconds]

Every /v1/pbx request carries
    X-Callwake-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<METHOD>.<path>.<raw body>")>
over the path exactly as sent (the callId percent-encoded) and the body's exact bytes. ]]

local hmac = require("openssl.hmac")
local rand = require("openssl.rand")
local cjson = require("cjson")
local http = require("socket.http")
local ltn12 = require("ltn12")

local function env(name)
  local value = os.getenv(name)
  if value == nil or value == "" then
    io.stderr:write("set " .. name .. "\n")
    os.exit(2)
  end
  return value
end

local URL = env("CALLWAKE_URL"):gsub("/+$", "")
local TENANT = env("CALLWAKE_TENANT")
local SECRET = env("CALLWAKE_SECRET")

local function hex(bytes)
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function signature(timestamp, method, path, body)
  local mac = hmac.new(SECRET, "sha256")
  return "v1=" .. hex(mac:final(timestamp .. "." .. method .. "." .. path .. "." .. body))
end

-- Every byte but the unreserved ones (RFC 3986) becomes %XX: a SIP Call-ID holds @, ; and more.
local function percent_encode(s)
  return (s:gsub("[^A-Za-z0-9%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- JSON null decodes to cjson.null; shown as "-".
local function shown(v)
  if v == nil or v == cjson.null then return "-" end
  return tostring(v)
end

http.TIMEOUT = 40

--- Signs and sends one request; returns status, headers (lowercase names), decoded body or nil.
local function request(method, path, body, extra_headers)
  local raw = body and cjson.encode(body) or ""
  local timestamp = tostring(os.time())
  local headers = {
    ["X-Callwake-Tenant"] = TENANT,
    ["X-Callwake-Timestamp"] = timestamp,
    ["X-Callwake-Signature"] = signature(timestamp, method, path, raw),
  }
  if #raw > 0 then
    headers["Content-Type"] = "application/json"
    headers["Content-Length"] = tostring(#raw)
  end
  for name, value in pairs(extra_headers or {}) do headers[name] = value end
  local chunks = {}
  local ok, status, response_headers = http.request({
    url = URL .. path,
    uri = path, -- the request line carries the path exactly as signed
    method = method,
    headers = headers,
    source = #raw > 0 and ltn12.source.string(raw) or nil,
    sink = ltn12.sink.table(chunks),
  })
  if not ok then
    io.stderr:write("cannot reach " .. URL .. ": " .. tostring(status) .. "\n")
    os.exit(3)
  end
  local text = table.concat(chunks)
  return status, response_headers, (#text > 0 and cjson.decode(text) or nil)
end

local function expect(what, status, body, ...)
  for _, ok in ipairs({ ... }) do
    if status == ok then return end
  end
  io.stderr:write(what .. ": unexpected HTTP " .. tostring(status) .. ": " .. (body and cjson.encode(body) or "") .. "\n")
  os.exit(1)
end

local function say(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end

local call_id = (arg[1] and arg[1] ~= "") and arg[1] or (hex(rand.bytes(8)) .. "@pbx.example.com")
local push_token = (arg[2] and arg[2] ~= "") and arg[2] or hex(rand.bytes(32))
local wait_seconds = tonumber(arg[3] or "2")
local call_path = "/v1/pbx/calls/" .. percent_encode(call_id)

local status, headers, body = request("POST", "/v1/pbx/calls", {
  callId = call_id,
  from = { number = "+15551230000", displayName = "Lua signer" },
  devices = { { pnProvider = "apns", pnPrid = push_token, pnParam = "LOCALTEAM1.com.example.phone.voip" } },
  ringTimeoutSeconds = 60,
})
expect("create", status, body, 200, 201)
say(string.format("create %d status=%s callUuid=%s", status, body.status, body.callUuid))

status, headers, body = request("GET", call_path)
expect("view", status, body, 200)
local etag = headers["etag"]
say(string.format("view %d status=%s etag=%s", status, body.status, etag))

say(string.format("waiting wait=%d", wait_seconds))
status, headers, body =
  request("GET", call_path, nil, { ["If-None-Match"] = etag, ["Prefer"] = "wait=" .. wait_seconds })
expect("wait", status, body, 200, 304)
if status == 304 then
  say("wait 304 unchanged preference-applied=" .. shown(headers["preference-applied"]))
else
  say(string.format("wait 200 changed status=%s endReason=%s etag=%s", body.status, shown(body.endReason), headers["etag"]))
end

status, headers, body = request("POST", call_path .. "/cancel", { reason = "caller_hangup" })
expect("cancel", status, body, 200)
say(string.format("cancel %d status=%s endReason=%s", status, body.status, shown(body.endReason)))

status, headers, body = request("GET", call_path)
expect("final", status, body, 200)
say(string.format("final %d status=%s endReason=%s etag=%s", status, body.status, shown(body.endReason), headers["etag"]))

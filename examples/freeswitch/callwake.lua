--[[ callwake.lua: the callwake part of the FreeSWITCH recipe (sign, create, wait, cancel), for
Lua 5.1 to 5.4. ring_push_user.lua uses it inside FreeSWITCH; check.lua runs it alone, against
`npm start`, in callwake's CI. Needs luaossl (HMAC, SHA-256), lua-cjson and luasocket, built for
the Lua your mod_lua links against (Debian: lua-luaossl, lua-cjson, lua-socket).

Every /v1/pbx request carries
    X-Callwake-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<METHOD>.<path>.<raw body>")>
over the path exactly as sent and the body's exact bytes. ]]

local hmac = require("openssl.hmac")
local digest = require("openssl.digest")
local cjson = require("cjson")
local http = require("socket.http")
local ltn12 = require("ltn12")

local M = {}

-- A held request (Prefer: wait) answers within its wait; this bounds everything else.
http.TIMEOUT = 30

local function hex(bytes)
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

--- Every byte but RFC 3986's unreserved ones as %XX (a SIP Call-ID holds @, ; and more).
function M.percent_encode(s)
  return (s:gsub("[^A-Za-z0-9%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

--- A SIP Call-ID as callwake's callId: itself when it fits (1-256 printable ASCII characters, no
--- whitespace, /, ? or #, not . or ..), else the SHA-256 hex of it, as the contract suggests.
function M.call_id_for(sip_call_id)
  local s = sip_call_id or ""
  if #s >= 1 and #s <= 256 and not s:find("[^\33-\126]") and not s:find("[/?#]") and s ~= "." and s ~= ".." then
    return s
  end
  return hex(digest.new("sha256"):final(s))
end

--- The first line of a file that only the PBX's user can read.
function M.read_secret(path)
  local f = assert(io.open(path, "r"), "cannot read the callwake secret file " .. tostring(path))
  local secret = f:read("*l")
  f:close()
  assert(secret and secret ~= "", "the callwake secret file is empty")
  return secret
end

--- JSON null (cjson.null) and nil as nil.
function M.value(v)
  if v == cjson.null then return nil end
  return v
end

local Client = {}
Client.__index = Client

--- config: { url = "https://callwake.example.com", tenant = "…", secret = "…" }
function M.new(config)
  assert(config.url and config.tenant and config.secret, "callwake needs url, tenant and secret")
  return setmetatable({ url = config.url:gsub("/+$", ""), tenant = config.tenant, secret = config.secret }, Client)
end

--- Signs and sends one request. Returns status, headers (lowercase names), decoded body (or nil);
--- status is nil and the third value the error when callwake could not be reached.
function Client:request(method, path, body, extra_headers)
  local raw = body and cjson.encode(body) or ""
  local timestamp = tostring(os.time())
  local mac = hmac.new(self.secret, "sha256"):final(timestamp .. "." .. method .. "." .. path .. "." .. raw)
  local headers = {
    ["X-Callwake-Tenant"] = self.tenant,
    ["X-Callwake-Timestamp"] = timestamp,
    ["X-Callwake-Signature"] = "v1=" .. hex(mac),
  }
  if #raw > 0 then
    headers["Content-Type"] = "application/json"
    headers["Content-Length"] = tostring(#raw)
  end
  for name, value in pairs(extra_headers or {}) do headers[name] = value end
  local chunks = {}
  local ok, status, response_headers = http.request({
    url = self.url .. path,
    uri = path, -- the request line carries the path exactly as signed
    method = method,
    headers = headers,
    source = #raw > 0 and ltn12.source.string(raw) or nil,
    sink = ltn12.sink.table(chunks),
  })
  if not ok then return nil, nil, tostring(status) end
  local text = table.concat(chunks)
  local decoded = nil
  if #text > 0 then
    local parsed, result = pcall(cjson.decode, text)
    decoded = parsed and result or text
  end
  return status, response_headers, decoded
end

function Client.call_path(_, call_id)
  return "/v1/pbx/calls/" .. M.percent_encode(call_id)
end

--- POST /v1/pbx/calls
function Client:create(call)
  return self:request("POST", "/v1/pbx/calls", call)
end

--- GET the PBX view; with an etag and wait_seconds, held until it changes (200) or the wait ends (304).
function Client:view(call_id, etag, wait_seconds)
  local headers = {}
  if etag then headers["If-None-Match"] = etag end
  if wait_seconds then headers["Prefer"] = "wait=" .. wait_seconds end
  return self:request("GET", self:call_path(call_id), nil, headers)
end

--- POST …/cancel: caller_hangup, answered_elsewhere, declined_elsewhere, timeout or error.
function Client:cancel(call_id, reason)
  return self:request("POST", self:call_path(call_id) .. "/cancel", { reason = reason or "caller_hangup" })
end

return M

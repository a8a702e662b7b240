--[[ ring_push_user.lua: ring a push-woken iPhone user from FreeSWITCH through callwake.

Dialplan (see dialplan.xml): <action application="lua" data="ring_push_user.lua ${destination_number} ${domain_name}"/>
Global variables (vars.xml): callwake_url, callwake_tenant, callwake_secret_file (a file only
FreeSWITCH's user can read, holding the tenant's secret on its first line).

What it does with the caller's leg (the INVITE is held, never answered here):
1. 180 Ringing, then creates the call in callwake for the user (callwake pushes every device of
   the user). Not ringing (no push accepted, or the user's settings refused it): 480.
2. Holds the call until the woken phone registers, waiting on the call's view in callwake
   (If-None-Match + Prefer: wait) one second at a time so it also notices the registration and
   the caller hanging up:
   - the phone registered (sofia_contact finds it): bridge to it; the app, which already reported
     the call to CallKit, takes the INVITE;
   - the user declined on the phone: 603 Decline (CALL_REJECTED);
   - the call ended in callwake (ring timeout, cancelled elsewhere): 480;
   - answered in the app but no registration within REGISTER_GRACE_SECONDS: cancel (error), 480;
   - the caller hung up: cancel (caller_hangup), so the phone stops ringing at once.
3. A bridge that failed (the phone never connected over SIP): cancel, so the app ends its call. ]]

local callwake = require("callwake")

local RING_SECONDS = 45
local REGISTER_GRACE_SECONDS = 15
local WAIT_SECONDS = 1

local user, domain = argv[1], argv[2]
local api = freeswitch.API()
local function log(level, message)
  freeswitch.consoleLog(level, "callwake " .. tostring(user) .. ": " .. message .. "\n")
end

local cw = callwake.new({
  url = freeswitch.getGlobalVariable("callwake_url"),
  tenant = freeswitch.getGlobalVariable("callwake_tenant"),
  secret = callwake.read_secret(freeswitch.getGlobalVariable("callwake_secret_file")),
})

local call_id = callwake.call_id_for(session:getVariable("sip_call_id"))
session:setVariable("callwake_call_id", call_id)
session:execute("ring_ready")

local number = session:getVariable("caller_id_number")
local from = { uri = "sip:" .. (session:getVariable("sip_from_user") or "anonymous") .. "@" .. (session:getVariable("sip_from_host") or domain) }
if number and number ~= "" then from.number = number end
local name = session:getVariable("caller_id_name")
if name and name ~= "" then from.displayName = name end

local status, _, created = cw:create({ callId = call_id, from = from, to = { userId = user }, ringTimeoutSeconds = RING_SECONDS })
if status ~= 200 and status ~= 201 then
  log("ERR", "create answered " .. tostring(status) .. " " .. tostring(created and created.code or created))
  session:hangup("NORMAL_TEMPORARY_FAILURE")
  return
end
if created.status ~= "ringing" then
  log("INFO", "not ringing: " .. tostring(created.status))
  session:hangup("SUBSCRIBER_ABSENT") -- 480 Temporarily Unavailable
  return
end
log("INFO", "pushed, call " .. call_id .. " ringing")

local etag = nil
local answered_at = nil
local give_up_at = os.time() + RING_SECONDS + 10 -- callwake ends the ring first; this is if it cannot be reached
while true do
  if not session:ready() then
    log("INFO", "the caller hung up: cancel")
    cw:cancel(call_id, "caller_hangup")
    return
  end

  local contact = api:executeString("sofia_contact */" .. user .. "@" .. domain)
  if contact and contact ~= "" and not contact:find("error/") then
    log("INFO", "registered: bridge to " .. contact)
    session:execute("bridge", contact)
    local disposition = session:getVariable("originate_disposition")
    if disposition ~= "SUCCESS" then
      -- The woken phone never took the INVITE: end the call in the app too.
      cw:cancel(call_id, session:ready() and "error" or "caller_hangup")
      if session:ready() then session:hangup("NORMAL_TEMPORARY_FAILURE") end
    end
    return
  end

  local view_status, headers, view = cw:view(call_id, etag, etag and WAIT_SECONDS or nil)
  if view_status == 200 then
    etag = headers["etag"]
    if view.status == "declined" then
      log("INFO", "declined on the phone")
      session:hangup("CALL_REJECTED") -- 603 Decline
      return
    elseif view.status == "answered" then
      answered_at = answered_at or os.time()
    elseif view.status ~= "ringing" then
      log("INFO", "ended in callwake: " .. tostring(view.status))
      session:hangup("NO_ANSWER") -- 480
      return
    end
  elseif view_status ~= 304 then
    log("WARNING", "view answered " .. tostring(view_status) .. "; retrying")
    session:sleep(500)
  end

  if not answered_at and os.time() > give_up_at then
    log("WARNING", "no answer from callwake in time: cancel")
    cw:cancel(call_id, "timeout")
    session:hangup("NO_ANSWER")
    return
  end
  if answered_at and os.time() - answered_at > REGISTER_GRACE_SECONDS then
    log("INFO", "answered in the app but never registered: cancel")
    cw:cancel(call_id, "error")
    session:hangup("NO_ANSWER")
    return
  end
end

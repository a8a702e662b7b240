--[[ Runs examples/freeswitch/ring_push_user.lua outside FreeSWITCH, on stand-ins for what mod_lua
gives a script (session, freeswitch.API, argv), driven by files in HARNESS_DIR:
  registered  exists: sofia_contact finds the user registered
  hangup      exists: the caller has hung up (session:ready() is false)
Prints each thing the script does to the channel, one line each (set, execute, hangup), so the
test can assert on it. This checks the recipe's logic against callwake, not FreeSWITCH itself. ]]

local dir = assert(os.getenv("HARNESS_DIR"), "set HARNESS_DIR")
local recipe = assert(os.getenv("RECIPE_DIR"), "set RECIPE_DIR")

local function exists(name)
  local f = io.open(dir .. "/" .. name, "r")
  if f then f:close() end
  return f ~= nil
end
local function emit(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end

local vars = {
  sip_call_id = os.getenv("SIP_CALL_ID"),
  caller_id_number = "+15551230000",
  caller_id_name = "Bob Smith",
  sip_from_user = "bob",
  sip_from_host = "pbx.example.com",
}
local hung_up = false

session = {
  ready = function() return not hung_up and not exists("hangup") end,
  getVariable = function(_, name) return vars[name] end,
  setVariable = function(_, name, value)
    vars[name] = value
    emit("set " .. name .. "=" .. tostring(value))
  end,
  execute = function(_, app, data)
    emit("execute " .. app .. " " .. tostring(data))
    if app == "bridge" then vars.originate_disposition = os.getenv("BRIDGE_DISPOSITION") or "SUCCESS" end
  end,
  hangup = function(_, cause)
    hung_up = true
    emit("hangup " .. cause)
  end,
  sleep = function(_, ms)
    local t = os.clock() + ms / 1000
    repeat until os.clock() >= t
  end,
}

freeswitch = {
  API = function()
    return {
      executeString = function(_, command)
        assert(command:match("^sofia_contact "), "unexpected API command " .. command)
        if exists("registered") then return "sofia/internal/sip:alice@127.0.0.1:5062;transport=tcp" end
        return "error/user_not_registered"
      end,
    }
  end,
  getGlobalVariable = function(name)
    return ({
      callwake_url = os.getenv("CALLWAKE_URL"),
      callwake_tenant = os.getenv("CALLWAKE_TENANT"),
      callwake_secret_file = os.getenv("CALLWAKE_SECRET_FILE"),
    })[name]
  end,
  consoleLog = function(level, message) io.stderr:write("[" .. level .. "] " .. message) end,
}

argv = { os.getenv("PUSH_USER"), "pbx.example.com" }
package.path = recipe .. "/?.lua;" .. package.path
dofile(recipe .. "/ring_push_user.lua")
emit("script ended")

-- The SCIM bridge as the specs run it: bin/close-scim (or a plain nginx
-- with a configuration of the spec's) on free loopback ports with a private
-- directory, and SCIM requests to it over close.core's libcurl handle.
local core = require "close.core"
local cjson = require "cjson.safe"
local files = require "spec.support.files"

local M = {}

M.ROOT = assert(io.popen("pwd")):read("*l")
M.TOKEN = "scim-test-token-0123456789abcdefghijklmnop"   -- 42 characters

local sh = files.sh
M.sh = sh

local function capture(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end
M.capture = capture

M.read = files.read

function M.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

M.tmpdir, M.free_port = files.tmpdir, files.free_port

function M.sleep(s)
  core.sleep(s)
end

-- Whether pid is a live process.
function M.alive(pid)
  return not files.process_gone(pid)
end

-- Waits (bounded) until f() is true; returns its last value.
function M.wait_for(f, seconds)
  local v
  for _ = 1, math.floor((seconds or 10) * 20) do
    v = f()
    if v then return v end
    core.sleep(0.05)
  end
  return v
end

--- Starts bin/close-scim with args (a list) and env (a string of NAME=value
-- words) in the background; waits for its "listening on" line. Returns an
-- instance {url, base, dir, pid, out, err, stop(), kill9()} or nil and what
-- it printed.
function M.start(o)
  local dir = o.dir or M.tmpdir()
  local port = o.port or M.free_port()
  local state = o.state_dir or (dir .. "/state")
  local args = { "--listen", (o.host or "127.0.0.1") .. ":" .. port, "--state-dir", state }
  for _, a in ipairs(o.args or {}) do args[#args + 1] = a end
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = "'" .. a:gsub("'", "'\\''") .. "'" end
  local out, err = dir .. "/stdout", dir .. "/stderr"
  -- a subshell waits for close-scim and keeps its exit status in dir/rc
  local cmd = ("(set -m; env -i PATH=\"$PATH\" %s %s/bin/close-scim %s >%s 2>%s </dev/null & echo $! >%s/pid; "
    .. "wait $!; echo $? >%s/rc) >/dev/null 2>&1 &")
    :format(o.env or "", M.ROOT, table.concat(quoted, " "), out, err, dir, dir)
  for _, f in ipairs({ "rc", "pid", "stdout", "stderr" }) do os.remove(dir .. "/" .. f) end
  -- job control on (set -m): a background job of a shell without it ignores SIGINT
  assert(sh("bash -c " .. ("'" .. cmd:gsub("'", "'\\''") .. "'")))
  local pid = assert(M.wait_for(function() return tonumber((M.read(dir .. "/pid") or ""):match("%d+")) end, 5))
  local inst = { dir = dir, state = state, pid = pid, port = port, out = out, err = err }
  local line = M.wait_for(function()
    local text = M.read(out) or ""
    return text:match("[^\n]*listening on [^\n]*") or (not M.alive(pid) and "exited")
  end, o.timeout or 15)
  if not line or line == "exited" then
    inst.line = line
    M.stop(inst)
    return nil, (M.read(out) or "") .. (M.read(err) or ""), inst
  end
  inst.line = line
  inst.base = line:match("listening on (%S+)")
  inst.url = inst.base
  return inst
end

--- close-scim's exit status, once it has exited (waits up to 15 s).
function M.status(inst)
  return M.wait_for(function() return tonumber((M.read(inst.dir .. "/rc") or ""):match("%d+")) end, 15)
end

--- nginx's master pid of an instance (from its pid file).
function M.master(inst)
  return tonumber((M.read(inst.state .. "/nginx.pid") or ""):match("%d+"))
end

--- SIGTERM to close-scim; waits (bounded) until it and nginx are gone.
function M.stop(inst, signal)
  local master = M.master(inst)
  sh(("kill -%s %d 2>/dev/null"):format(signal or "TERM", inst.pid))
  local gone = M.wait_for(function()
    return not M.alive(inst.pid) and not (master and M.alive(master))
  end, 15)
  if not gone then sh(("kill -9 %d %s 2>/dev/null"):format(inst.pid, master or "")) end
  return gone
end

--- kill -9 of nginx, its master and workers at once (close-scim then exits).
function M.kill9(inst)
  local master = assert(M.master(inst), "no nginx pid file")
  local workers = capture("pgrep -P " .. master):gsub("%s+", " ")
  sh(("kill -9 %d %s"):format(master, workers))
  return M.wait_for(function() return not M.alive(master) and not M.alive(inst.pid) end, 10)
end

function M.cleanup(inst)
  if inst then
    M.stop(inst)
    sh("rm -rf " .. inst.dir)
  end
end

--- A test CA and a server certificate for 127.0.0.1 and localhost signed by
-- it, made now in dir: returns the paths {ca, cert, key}.
function M.make_certs(dir)
  M.write(dir .. "/openssl.cnf", [[
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
]])
  local cmd = table.concat({
    "cd %s",
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=SCIM-Test-CA"
      .. " -config openssl.cnf -extensions v3_ca",
    "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost -config openssl.cnf",
    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2"
      .. " -extfile openssl.cnf -extensions v3_server",
  }, " && "):format(dir)
  assert(sh("(" .. cmd .. ") >/dev/null 2>&1"), "openssl could not make the test certificates")
  return { ca = dir .. "/ca.pem", cert = dir .. "/server.pem", key = dir .. "/server.key" }
end

local http = core.http()

--- A request to the bridge: method, url, body (a table is sent as JSON),
-- headers (the bearer token unless auth = false or a string). Returns
-- status, decoded body (or nil), the response.
function M.request(method, url, body, o)
  o = o or {}
  local headers = { ["Content-Type"] = "application/scim+json" }
  for k, v in pairs(o.headers or {}) do headers[k] = v end
  if o.auth ~= false then headers.Authorization = "Bearer " .. (o.auth or M.TOKEN) end
  if type(body) == "table" then body = cjson.encode(body) end
  local res, err = http:request({
    method = method, url = url, body = body, headers = headers,
    timeout = o.timeout or 20, connect_timeout = 2, max_body = 64 * 1048576, ca_file = o.ca_file,
  })
  assert(res, err and err.message)
  return res.status, cjson.decode(res.body), res
end

--- POSTs n users (new_user(email, display)) at once from n curl processes
-- (a provider's burst), in the background; returns the directory where each
-- answer lands (N.code, N.body).
function M.burst(base, n, prefix, new_user)
  local dir = M.tmpdir()
  for i = 1, n do
    M.write(("%s/%d.json"):format(dir, i),
      cjson.encode(new_user(("%s%d@acme.com"):format(prefix, i), ("%s %d"):format(prefix, i))))
  end
  local cmd = ("seq 1 %d | xargs -P %d -I{} sh -c 'curl -s -m 60 -o %s/{}.body -w %%{http_code} "
    .. "-H \"Authorization: Bearer %s\" -H \"Content-Type: application/scim+json\" "
    .. "--data-binary @%s/{}.json %s/Users >%s/{}.code' >/dev/null 2>&1 &")
    :format(n, n, dir, M.TOKEN, dir, base, dir)
  assert(M.sh(cmd))
  return dir
end

-- The answers of a burst once every curl has written its code: {i = {code, doc}}.
function M.answers(dir, n)
  local out = {}
  assert(M.wait_for(function()
    for i = 1, n do
      local code = M.read(("%s/%d.code"):format(dir, i))
      if not code or code == "" then return false end
    end
    return true
  end, 90), "the burst did not finish")
  for i = 1, n do
    out[i] = { code = tonumber(M.read(("%s/%d.code"):format(dir, i))),
               doc = cjson.decode(M.read(("%s/%d.body"):format(dir, i)) or "") }
  end
  return out
end

--- The audit log's records.
function M.audit(inst)
  local out = {}
  for line in (M.read(inst.state .. "/audit.log") or ""):gmatch("[^\n]+") do
    out[#out + 1] = assert(cjson.decode(line), "audit line is not JSON: " .. line)
  end
  return out
end

return M

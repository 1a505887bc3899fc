-- close-provision login's authorize endpoint (issue 14 item 18): the one
-- CLOSE_AUTHORIZE_URL names, else the local server's when CLOSE_BASE_URL is
-- on loopback, else Close's.
local login = require "close.cli.login"

local function env(t) return function(k) return t[k] end end

describe("close-provision login's authorize endpoint", function()
  it("is CLOSE_AUTHORIZE_URL when set (not empty)", function()
    assert.equal("https://example.test/authorize", login.authorize_endpoint(env{
      CLOSE_AUTHORIZE_URL = "https://example.test/authorize", CLOSE_BASE_URL = "http://127.0.0.1:9/api/v1" }))
  end)

  it("derives from a loopback CLOSE_BASE_URL: its origin's /oauth2/authorize/", function()
    for base, want in pairs({
      ["http://127.0.0.1:8080/api/v1"] = "http://127.0.0.1:8080/oauth2/authorize/",
      ["https://localhost:4443/api/v1/"] = "https://localhost:4443/oauth2/authorize/",
      ["https://[::1]:4443/api/v1"] = "https://[::1]:4443/oauth2/authorize/",
      ["http://127.0.0.1/api/v1"] = "http://127.0.0.1/oauth2/authorize/",
    }) do
      assert.equal(want, login.authorize_endpoint(env{ CLOSE_BASE_URL = base, CLOSE_AUTHORIZE_URL = "" }), base)
    end
  end)

  it("is Close's for any other CLOSE_BASE_URL, or none", function()
    for _, base in ipairs({ "https://api.close.com/api/v1", "https://127.0.0.1.example.com/api/v1",
      "https://localhost.evil.test:443/api/v1", "not a url", "" }) do
      assert.equal("https://app.close.com/oauth2/authorize/", login.authorize_endpoint(env{ CLOSE_BASE_URL = base }),
        base)
    end
    assert.equal("https://app.close.com/oauth2/authorize/", login.authorize_endpoint(env{}))
  end)
end)

describe("close-provision help login", function()
  it("documents CLOSE_AUTHORIZE_URL, its derivation from a loopback CLOSE_BASE_URL, and PKCE", function()
    local lines = {}
    local code = require("close.cli").run{ argv = { "help", "login" }, out = function(s) lines[#lines + 1] = s end }
    assert.equal(0, code)
    local text = table.concat(lines, "\n")
    assert.matches("The approval page is CLOSE_AUTHORIZE_URL when set; else, when CLOSE_BASE_URL\npoints at a loopback "
      .. "address (the local Close-compatible server), that\nserver's /oauth2/authorize/", text, 1, true)
    assert.matches("It uses PKCE (S256) and the state check, and asks for offline_access.", text, 1, true)
  end)
end)

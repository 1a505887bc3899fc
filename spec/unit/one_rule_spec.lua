-- One rule, one place: each rule the library and the CLI share is one
-- function, and these pin what it says.
local batch = require "close.batch"
local close = require "close"
local host = require "close.host"
local url = require "close.url"
local validate = require "close.validate"
local args = require "close.cli.args"

describe("one rule, one place", function()
  it("fatal kinds: auth and tls stop a batch and a close-provision run", function()
    assert.is_true(batch.is_fatal(close.error.new("auth", "x")))
    assert.is_true(batch.is_fatal(close.error.new("tls", "x")))
    assert.is_false(batch.is_fatal(close.error.new("network", "x")))
    assert.is_false(batch.is_fatal(nil))
  end)

  it("the concurrency range: 1 to batch.MAX_CONCURRENCY, for batch and --concurrency alike", function()
    assert.equal(1000, batch.MAX_CONCURRENCY)
    assert.is_nil(batch.concurrency_error(1))
    assert.is_nil(batch.concurrency_error(1000))
    assert.equal("a whole number from 1 to 1000", batch.concurrency_error(1001))
    assert.equal("a whole number from 1 to 1000", batch.concurrency_error(2.5))
    assert.equal("a whole number from 1 to 1000", batch.concurrency_error(nil))
    local client = close.new{ api_key = "k_123", transport = function() error("no call") end }
    assert.has_error(function() client:batch({}, function() end, { concurrency = 1001 }) end,
      'close: batch: concurrency must be "auto" or a whole number from 1 to 1000')
    assert.same({ nil, "--concurrency needs a whole number from 1 to 1000, or auto" },
      { args.parse({ "--concurrency", "1001", "team.csv" }) })
  end)

  it("the predefined roles are C's (close.core.ROLES), and every name the UI shows is one of them", function()
    local core = require "close.core"
    assert.equal(core.ROLES, validate.PREDEFINED_ROLES)
    assert.same({ admin = true, superuser = true, user = true, restricteduser = true }, core.ROLES)
    for _, p in ipairs(validate.PREDEFINED_NAMES) do assert.is_true(core.ROLES[p[1]], p[1]) end
  end)

  it("methods that send a body: C's set (wire.c), used by the cosocket transport and the SCIM handler", function()
    local core = require "close.core"
    assert.same({ POST = true, PUT = true, PATCH = true }, core.BODY_METHODS)
  end)

  it("the address key: Close matches addresses without regard to case", function()
    assert.equal("sam@acme.com", validate.address_key("Sam@ACME.com"))
    assert.equal("", validate.address_key(nil))
  end)

  it("role id or role name: how a role as written is read", function()
    for _, id in ipairs({ "", "user", "admin", "role_abc", "ROLE_x y" }) do
      assert.is_true(validate.reads_as_role_id(id), id)
    end
    for _, name in ipairs({ "User", "Account Manager", "sales" }) do
      assert.is_false(validate.reads_as_role_id(name), name)
    end
  end)

  it("sorted URL encoding: the same table always makes the same string", function()
    assert.equal("a=1&b=x%20y&c=%26", url.encode({ c = "&", a = 1, b = "x y" }))
    assert.equal("?a=1", url.query_string({ a = 1 }))
    assert.equal("", url.query_string({}))
  end)

  it("splitting a URL: one function, for the token endpoint's origin, the pacer and the transport", function()
    local u = assert(url.split("https://API.close.com:443/api/v1/x?y=1#z"))
    assert.equal("api.close.com", u.host)
    assert.equal("/api/v1/x?y=1", u.path)
    assert.equal("https://api.close.com", url.origin("https://API.close.com/api/v1"))
    assert.equal("http://127.0.0.1:8080", url.origin("http://127.0.0.1:8080/api/v1"))
    assert.equal("https://api.close.com/oauth2/token/", close.oauth.token_url("https://api.close.com/api/v1"))
    assert.equal("POST /oauth2/token/", require("close.pacer").group("POST", "http://127.0.0.1:9/oauth2/token/?a"))
    assert.equal(url.split, require("close.transport.ngx").parse_url)
  end)

  it("detecting nginx: outside nginx there is none", function()
    assert.is_nil(host.nginx())
  end)

  it("the copy helper is one", function()
    local t = { a = 1 }
    local c = validate.copy(t)
    assert.same(t, c)
    assert.is_not.equal(t, c)
  end)

  it("the 'no credentials' message is the library's, in the CLI too", function()
    assert.equal("no credentials: set CLOSE_API_KEY, CLOSE_ACCESS_TOKEN or CLOSE_TOKEN_FILE", close.NO_CREDENTIALS)
    assert.same({ nil, close.NO_CREDENTIALS, true }, { require("close.cli.credentials").make({ client = false }, {}) })
  end)

  it("the longest timeout is the one cap, C's (defaults.h)", function()
    local config = require "close.config"
    assert.equal(require("close.core").defaults.max_seconds, config.MAX_SECONDS)
    assert.equal(86400, config.MAX_SECONDS)
    assert.has_error(function() close.new{ api_key = "k_123", timeout = config.MAX_SECONDS + 1 } end,
      ("close.new: option 'timeout' must be at most %d seconds"):format(config.MAX_SECONDS))
  end)
end)

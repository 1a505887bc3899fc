-- client:credential(): what close-provision whoami says of a client (issue 14 item 19).
describe("client:credential()", function()
  local close = require "close"
  it("names the kind of credential a client sends, never the credential", function()
    assert.equal("api_key", close.new{ api_key = "ck_unit" }:credential())
    assert.equal("oauth_token", close.new{ oauth_token = "tok_unit" }:credential())
    assert.equal("oauth", close.new{ oauth = { client_id = "a", client_secret = "b", refresh_token = "r" } }
      :credential())
    assert.has_error(function() close.new{ api_key = "k" }.credential() end,
      "close: call client:credential{...} with ':' on a client from close.new")
  end)
end)

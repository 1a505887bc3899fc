-- Email validation through client:create_membership and close.core.validate_email.
-- An invalid email is refused before any I/O: nil + a validation error, and
-- the transport is never called.

local fake = require "spec.unit.support.fake"
local core = require "close.core"

-- A domain of exactly n characters (n >= 64) made of 62-letter labels and
-- one last label of 1..63 letters: every label within the 63 limit.
local function domain(n)
  local labels, rem = {}, n
  while rem > 63 do
    labels[#labels + 1] = ("d"):rep(62)
    rem = rem - 63
  end
  labels[#labels + 1] = ("e"):rep(rem)
  local d = table.concat(labels, ".")
  assert(#d == n)
  return d
end

local L64 = ("l"):rep(64)
local L65 = ("l"):rep(65)

describe("the domain() helper of this spec", function()
  it("builds domains of the asked length with labels of at most 63", function()
    for _, n in ipairs({ 64, 126, 127, 189, 190, 252, 253, 254 }) do
      local d = domain(n)
      assert.are.equal(n, #d)
      for label in d:gmatch("[^.]+") do assert.is_true(#label >= 1 and #label <= 63) end
    end
  end)
end)

local VALID = {
  { "simple", "jane@acme.com" },
  { "one-letter local part and labels", "a@b.co" },
  { "dotted local part", "first.last@example.com" },
  { "several dots in the local part", "a.b.c.d@example.com" },
  { "plus tag", "user+tag@example.com" },
  { "upper case", "JANE.DOE@ACME.COM" },
  { "digits only everywhere", "123@456.789" },
  { "digits-only labels", "a@1.2.3.4" },
  { "hyphen inside a label", "a@my-host.example.com" },
  { "digit-leading label", "a@1example.com" },
  { "punycode label", "a@xn--bcher-kva.example" },
  { "many labels", "a@w.x.y.z.example.co.uk" },
  { "every atext special at once", "!#$%&'*+/=?^_`{|}~-@example.com" },
  { "local part of 64 characters", L64 .. "@example.com" },
  { "label of 63 characters", "a@" .. ("b"):rep(63) .. ".com" },
  { "two labels of 63 characters", "a@" .. ("b"):rep(63) .. "." .. ("c"):rep(63) },
  { "whole address of 254 characters (64 + 1 + 189)", L64 .. "@" .. domain(189) },
  { "domain of 252 characters (1 + 1 + 252 = 254)", "a@" .. domain(252) },
}

-- every character of RFC 5322 atext other than letters and digits
for c in ("!#$%&'*+/=?^_`{|}~-"):gmatch(".") do
  VALID[#VALID + 1] = { ("atext character %q inside the local part"):format(c), "a" .. c .. "b@example.com" }
end

local WS = "must not contain whitespace or control characters"
local LOCAL_CHAR = "local part has a character that is not allowed"
local DOMAIN_CHAR = "domain may only contain letters, digits, '-' and '.'"
local LOCAL_DOT = "local part must not start or end with '.'"
local LABEL_DASH = "domain label must not start or end with '-'"
local EMPTY_LABEL = "domain has an empty label"

local INVALID = {
  { "empty", "", "must not be empty" },
  { "missing @", "plainaddress", "must contain '@'" },
  { "missing @ with a dot", "jane.acme.com", "must contain '@'" },
  { "only @", "@", "local part is empty" },
  { "empty local part", "@example.com", "local part is empty" },
  { "empty domain", "jane@", "domain is empty" },
  { "two @", "a@b@example.com", "must contain exactly one '@'" },
  { "double @", "a@@example.com", "must contain exactly one '@'" },
  { "@ at both ends", "@a@example.com", "must contain exactly one '@'" },
  { "trailing @ after a full address", "a@example.com@", "must contain exactly one '@'" },
  { "leading dot in the local part", ".jane@example.com", LOCAL_DOT },
  { "trailing dot in the local part", "jane.@example.com", LOCAL_DOT },
  { "local part is a single dot", ".@example.com", LOCAL_DOT },
  { "double dot in the local part", "ja..ne@example.com", "local part must not contain '..'" },
  { "leading dot in the domain", "a@.example.com", EMPTY_LABEL },
  { "trailing dot in the domain", "a@example.com.", EMPTY_LABEL },
  { "double dot in the domain", "a@example..com", EMPTY_LABEL },
  { "domain is a single dot", "a@.", EMPTY_LABEL },
  { "one-label domain", "a@localhost", "domain must have at least two labels" },
  { "one-letter one-label domain", "a@b", "domain must have at least two labels" },
  { "label starting with '-'", "a@-example.com", LABEL_DASH },
  { "label ending with '-'", "a@example-.com", LABEL_DASH },
  { "last label starting with '-'", "a@example.-com", LABEL_DASH },
  { "last label ending with '-'", "a@example.com-", LABEL_DASH },
  { "label that is only '-'", "a@-.com", LABEL_DASH },
  { "underscore in the domain", "a@ex_ample.com", DOMAIN_CHAR },
  { "plus in the domain", "a@ex+ample.com", DOMAIN_CHAR },
  { "IP literal domain", "a@[127.0.0.1]", DOMAIN_CHAR },
  { "quoted local part", '"jane"@example.com', LOCAL_CHAR },
  { "space in the local part", "ja ne@example.com", WS },
  { "space in the domain", "jane@exa mple.com", WS },
  { "leading space", " jane@example.com", WS },
  { "trailing space", "jane@example.com ", WS },
  { "quoted local part with a space", '"ja ne"@example.com', WS },
  { "tab", "ja\tne@example.com", WS },
  { "newline", "jane@example.com\n", WS },
  { "carriage return", "ja\rne@example.com", WS },
  { "NUL in the local part", "ja\0ne@example.com", WS },
  { "NUL in the domain", "jane@exam\0ple.com", WS },
  { "control character 0x01", "ja\1ne@example.com", WS },
  { "escape 0x1b", "ja\27ne@example.com", WS },
  { "DEL 0x7f", "ja\127ne@example.com", WS },
  { "non-ASCII in the local part (UTF-8 e-acute)", "j\195\169@example.com", "must be ASCII" },
  { "non-ASCII in the domain (UTF-8 a-umlaut)", "a@ex\195\164mple.com", "must be ASCII" },
  { "byte 0x80", "a\128@example.com", "must be ASCII" },
  { "byte 0xff", "a@example.com\255", "must be ASCII" },
  { "local part of 65 characters", L65 .. "@example.com", "local part must be at most 64 characters" },
  { "label of 64 characters", "a@" .. ("b"):rep(64) .. ".com", "domain label must be at most 63 characters" },
  { "first label of 64 characters, second of 63", "a@" .. ("b"):rep(64) .. "." .. ("c"):rep(63),
    "domain label must be at most 63 characters" },
  { "whole address of 255 characters (64 + 1 + 190)", L64 .. "@" .. domain(190), "must be at most 254 characters" },
  -- 253 is the longest domain name, but with the shortest local part the
  -- address is then 255 long: the whole-address limit (254) refuses it first.
  { "domain of 253 characters (1 + 1 + 253 = 255)", "a@" .. domain(253), "must be at most 254 characters" },
  { "domain of 254 characters", "a@" .. domain(254), "must be at most 254 characters" },
  { "whole address of 255 with a 65-character local part", L65 .. "@" .. domain(189),
    "must be at most 254 characters" },
}

-- "(),:;<>[\]" and the double quote are not atext
for c in ('(),:;<>[\\]"'):gmatch(".") do
  INVALID[#INVALID + 1] = { ("%q in the local part"):format(c), "ja" .. c .. "ne@example.com", LOCAL_CHAR }
  INVALID[#INVALID + 1] = { ("%q in the domain"):format(c), "jane@exa" .. c .. "mple.com", DOMAIN_CHAR }
end
-- atext other than '-' is still not allowed in a domain
for c in ("!#$%&'*/=?^`{|}~"):gmatch(".") do
  INVALID[#INVALID + 1] = { ("%q in the domain"):format(c), "jane@exa" .. c .. "mple.com", DOMAIN_CHAR }
end

describe("email validation", function()
  it("has at least 60 cases", function()
    assert.is_true(#VALID + #INVALID >= 60, tostring(#VALID + #INVALID))
  end)

  describe("accepts", function()
    for _, case in ipairs(VALID) do
      local name, email = case[1], case[2]
      it(name .. " (" .. #email .. " characters)", function()
        assert.are.same({ true }, { core.validate_email(email) })
        local h = fake.harness({ fake.ok() })
        local m, err, meta = h.client:create_membership({ email = email, role_id = "user" })
        assert.is_nil(err)
        assert.are.same(fake.decode(fake.MEMBERSHIP), m)
        assert.are.equal(1, meta.attempts)
        assert.are.equal(1, #h.calls)
        assert.are.same({ email = email, role_id = "user" }, fake.decode(h.calls[1].body))
      end)
    end
  end)

  describe("refuses", function()
    for _, case in ipairs(INVALID) do
      local name, email, reason = case[1], case[2], case[3]
      it(name .. " with '" .. reason .. "'", function()
        assert.are.same({ nil, reason }, { core.validate_email(email) })
        local h = fake.harness({})
        local m, err = h.client:create_membership({ email = email, role_id = "user" })
        assert.is_nil(m)
        assert.are.equal("validation", err.kind)
        assert.are.same({ email = reason }, err.field_errors)
        assert.are.equal("invalid email: " .. reason, err.message)
        assert.are.equal(0, err.attempts)
        assert.are.equal("POST", err.method)
        assert.are.equal(fake.URL, err.url)
        assert.is_nil(err.status)
        assert.are.equal("close: validation: invalid email: " .. reason .. " (POST " .. fake.URL .. ")",
          tostring(err))
        assert.are.equal(0, #h.calls)
        assert.are.equal(0, #h.waits)
        assert.are.equal(0, #h.hooks)
      end)
    end
  end)

  it("refuses a non-string through core.validate_email with a Lua error", function()
    assert.has_error(function() core.validate_email({}) end)
  end)
end)

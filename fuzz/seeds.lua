-- Writes the seed corpora (fuzz/corpus/<target>/) from the cases the specs
-- use. Run from the project root: lua5.4 fuzz/seeds.lua (the files are
-- committed; run it again after changing a case here).
local CRLF = "\r\n"
local function rec(after, method, s) return string.char(after + method * 4, #s // 256, #s % 256) .. s end
local d = string.pack

local seeds = {
  email = { "jane@acme.com", "a.b+c@sub.example.co", "jo#e@acme.com", ("a"):rep(64) .. "@x.com",
    "a@" .. ("b"):rep(63) .. ".com", ".a@b.com", "a..b@b.com", "a@localhost", "a@-x.com", "a b@x.com",
    "\xc3\xa9@x.com", "a\0b@x.com", "a@b@c.com" },
  role_id = { "user", "admin", "superuser", "restricteduser", "Admin", "role_abc123", "role_a-b", "Role_x",
    "memb_A1", "memb_", "" },
  base_url = { "https://api.close.com/api/v1", "http://127.0.0.1:18480/api/v1/", "http://[::1]:80/x",
    "http://x.localhost/", "http://localhost", "https://a@b.com", "http://example.com", "https://h/?q",
    "HTTPS://API.CLOSE.COM//", "http://127.1/", "http://[::1" },
  urlencode = { "a b&c=d", "organization_id", "\xff\0~", "orga_1/2?3#4" },
  auth_header = { "\1ck_test_4f7a2b9c1d", "\0ct_test_8e6d5c4b3a", "\1a:b", "\0a\r\nb", "\1", "\1\127x" },
  ratelimit = { "limit=100, remaining=50, reset=5", 'Reset=5;REMAINING="50", Limit=100',
    '"default";r=0;t=7\n"default";q=100;w=10', "\n\n20\n3\n0.5", "limit=100\n\n\n3\n9",
    "limit=abc, remaining=1e3, reset=0x10\n\ninf\nnan\n-1" },
  retry_after = { "5", "0.5", "Wed, 21 Oct 2015 07:28:07 GMT\nWed, 21 Oct 2015 07:28:00 GMT",
    "Thu, 01 Mar 2024 00:00:00 GMT\nWed, 28 Feb 2024 23:59:59 GMT", "Fri, 31 Dec 9999 23:59:59 GMT\nnot a date",
    "\n\nlimit=9, remaining=0, reset=3\n\n\n4", "\n\n\n0\n3\n4", "\n\n\n\n\nb", "\n\n\n\n\nB",
    "Wednesday, 21-Oct-15 07:28:07 GMT" },
  number = { "5", "0.595956", " 1.25 ", "1e3", "0x10", "inf", "-1", "123456789012345", "1.", ".5", "1000000001" },
  wire = { "HTTP/1.1 200 OK" .. CRLF .. "Content-Length: 2" .. CRLF .. CRLF .. "{}",
    "HTTP/1.1 200 OK" .. CRLF .. "A: b" .. CRLF .. "  folded  " .. CRLF .. CRLF,
    "HTTP/1.1 200 OK" .. CRLF .. "\tX-Folded: yes" .. CRLF .. CRLF, "HTTP/2 200" .. CRLF .. CRLF,
    "HTTP/1.1 204" .. CRLF .. CRLF, "HTP/1.1 200 OK" .. CRLF .. CRLF,
    "HTTP/1.0 429 Too Many\nRetry-After: 1\nRateLimit: limit=1, remaining=0, reset=1\n\n",
    "1f;name=value", "0", "ffffffff", "100000000", "zz", "5 ; x" },
  retry = {
    d("<Bi4i4dddddd", 1, 1, 3, 0, 0, 60, 0.5, 30, 0.5),
    d("<Bi4i4dddddd", 3, 2, 3, 45, 0, 60, 0.5, 30, 0),
    d("<Bi4i4dddddd", 1, 9, 3, 0, 59.9, 60, 0.5, 30, 0.99),
    d("<Bi4i4dddddd", 3, 2147483647, 2147483647, 0 / 0, 0, 1 / 0, 0, 1e300, 2),
  },
  scim_filter = { 'userName eq "x@y.com"', 'externalId eq "00u1abcd2EFGH3ij4k5"', 'userName eq x@y.com',
    'emails[type eq "work" and primary eq true]', 'members[value eq "2819c223-7f76-453a-919d-413861904646"]',
    'displayName eq "Sales Team"', 'id eq "memb_1" or id eq "memb_2"', 'active eq True',
    'userType eq "Employee" and not (emails co "example.com" or emails.value co "example.org")',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1"',
    'meta.lastModified gt "2011-05-13T04:42:34Z" and title pr', 'a eq "\\u00e9\\uD83D\\uDE00\\n" or b lt -1.5e3',
    '((a pr) or (b pr and not c pr))', 'a eq 1e999', 'a[b[c pr]]',
    'emails[type eq "work"].value ew "@acme.com"', 'emails[primary eq true].display pr and a pr' },
  scim_path = { 'active', 'name.givenName', 'emails[type eq "work"].value', 'members[value eq "memb_1"]',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value', 'roles[primary eq True].value',
    'emails[type eq work and value co "@x.com"]', 'emails[type eq "work"].' },
  resp = { "+OK\r\n", "-ERR unknown command 'x'\r\n", ":42\r\n", ":-9223372036854775808\r\n", "$5\r\nhello\r\n",
    "$-1\r\n", "*-1\r\n", "*0\r\n", "*2\r\n$3\r\nfoo\r\n:1\r\n", "*3\r\n+QUEUED\r\n-ERR x\r\n*1\r\n$-1\r\n",
    "$4\r\na\r\nb\r\n", "*2\r\n$10\r\nab", ":01\r\n", "+OK\r\n:1\r\n" },
  transport = {
    rec(0, 1, "FOO 200 OK\r\nContent-Length: 2\r\n\r\n{}") .. rec(0, 0, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
    rec(0, 1, "{}"),
    rec(0, 0, "HTTP/1.1 200 OK\r\n\1\2junk: x\r\nContent-Length: 2\r\n\r\n{}"),
    rec(0, 1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: foo\r\nTransfer-Encoding: bar\r\n\r\n{}"),
    rec(1, 1, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}"),
    rec(1, 1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}"),
    rec(0, 0, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: close\r\n\r\n{}")
      .. rec(0, 0, "HTTP/1.1 200 OK\r\n\tX-Folded: yes\r\nContent-Length: 2\r\n\r\n{}"),
    rec(0, 1, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nA: b\r\n c\r\nContent-Length: 2\r\n\r\n{}"),
    rec(0, 0, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nT: x\r\n y\r\n\r\n"),
    rec(2, 0, "HTTP/1.1 429 Too Many\r\nRetry-After: 1\r\nContent-Length: 2\r\n\r\n{}"),
    rec(3, 4, ""),
  },
}

for target, list in pairs(seeds) do
  local dir = "fuzz/corpus/" .. target
  os.execute("mkdir -p " .. dir)
  for i, s in ipairs(list) do
    local f = assert(io.open(("%s/seed-%02d"):format(dir, i), "wb"))
    f:write(s)
    f:close()
  end
end

-- close.rows: the membership file reader (CSV with or without a header) and
-- writer; every malformed case gives an error row with its exact message.
local rows = require "close.rows"
local files = require "spec.support.files"

local MIDQUOTE = "quote inside unquoted field %d (quote the whole field and double its quotes)"

-- the rows without their text, for the specs about fields
local function fields_of(list)
  local out = {}
  for i, r in ipairs(list) do
    out[i] = { line = r.line, email = r.email, role_id = r.role_id, role = r.role, error = r.error }
  end
  return out
end

-- the interpreter running this spec, for a child that reads its stdin
local function interpreter()
  local i = -1
  while arg and arg[i - 1] do i = i - 1 end
  return arg and arg[i] or "lua"
end

describe("close.rows", function()
  local limits = { rows.MAX_FILE, rows.MAX_FIELD, rows.MAX_FIELDS, rows.MAX_ROWS }
  after_each(function()
    rows.MAX_FILE, rows.MAX_FIELD, rows.MAX_FIELDS, rows.MAX_ROWS = limits[1], limits[2], limits[3], limits[4]
  end)

  it("reads email,role records: spaces trimmed, line and text kept", function()
    local list, info = rows.parse("  jane@acme.com , user \nkim@acme.com,Account Manager\nz@acme.com\n")
    assert.same({
      { line = 1, text = "  jane@acme.com , user ", email = "jane@acme.com", role_id = "user" },
      { line = 2, text = "kim@acme.com,Account Manager", email = "kim@acme.com", role = "Account Manager" },
      { line = 3, text = "z@acme.com", email = "z@acme.com", role_id = "" },
    }, list)
    assert.same({ separator = ",", header = false, columns = { email = 1, role = 2 } }, info)
  end)

  it("tells a role id from a role name", function()
    local list = rows.parse("a@x.com,user\nb@x.com,admin\nc@x.com,superuser\nd@x.com,restricteduser\n" ..
      "e@x.com,role_8Wf3RJ\nf@x.com,Role_abc\ng@x.com,role_a-b\nh@x.com,Admin\ni@x.com,Account Manager\n" ..
      "j@x.com,\nk@x.com,\"\"\n")
    local got = {}
    for _, r in ipairs(list) do got[#got + 1] = { r.role_id, r.role } end
    assert.same({
      { "user" }, { "admin" }, { "superuser" }, { "restricteduser" }, { "role_8Wf3RJ" },
      -- malformed ids stay ids, to be refused as such rather than looked up as names
      { "Role_abc" }, { "role_a-b" },
      { nil, "Admin" }, { nil, "Account Manager" },
      { "" }, { "" },
    }, got)
  end)

  it("ignores a UTF-8 BOM at the start", function()
    local list, info = rows.parse("\239\187\191a@x.com,user\n")
    assert.same({ { line = 1, text = "a@x.com,user", email = "a@x.com", role_id = "user" } }, list)
    assert.is_false(info.header)
    list, info = rows.parse("\239\187\191Email;Role\r\na@x.com;admin\r\n")
    assert.is_true(info.header)
    assert.equal(";", info.separator)
    assert.same({ { line = 2, text = "a@x.com;admin", email = "a@x.com", role_id = "admin" } }, list)
  end)

  it("reads quoted fields: separators, \"\" escapes, line breaks, spaces kept inside", function()
    local list = rows.parse('"a,b@x.com","Sales; EMEA"\n' ..
      '  "c@x.com" , "The ""A"" team"  \n' ..
      'd@x.com,"Line one\nline two"\n' ..
      'e@x.com," Sales "\n' ..
      'f@x.com,""""\n')
    assert.same({
      { line = 1, email = "a,b@x.com", role = "Sales; EMEA" },
      { line = 2, email = "c@x.com", role = 'The "A" team' },
      { line = 3, email = "d@x.com", role = "Line one\nline two" },
      { line = 5, email = "e@x.com", role = " Sales " },
      { line = 6, email = "f@x.com", role = '"' },
    }, fields_of(list))
    assert.equal('d@x.com,"Line one\nline two"', list[3].text)
    assert.equal('  "c@x.com" , "The ""A"" team"  ', list[2].text)
  end)

  it("reads a header row: columns by name in any order, case and spaces ignored, others skipped", function()
    local list, info = rows.parse("Name; ROLE ;team;\"Email\"\nJane;admin;north;jane@x.com\n" ..
      "Kim;Account Manager;south;kim@x.com\nLee;;east;lee@x.com\nMo\n")
    assert.same({ separator = ";", header = true, header_text = 'Name; ROLE ;team;"Email"',
      columns = { email = 4, role = 2 } }, info)
    assert.same({
      { line = 2, email = "jane@x.com", role_id = "admin" },
      { line = 3, email = "kim@x.com", role = "Account Manager" },
      { line = 4, email = "lee@x.com", role_id = "" },
      { line = 5, error = "no email column (the header puts it in column 4; this record has 1 field)" },
    }, fields_of(list))
  end)

  it("reads a header with role_id (preferred over role), or with no role column", function()
    local list, info = rows.parse("role,email,role_id\nSales,a@x.com,role_1\n")
    assert.same({ email = 2, role = 3 }, info.columns)
    assert.same({ { line = 2, email = "a@x.com", role_id = "role_1" } }, fields_of(list))
    list, info = rows.parse("email\na@x.com\nb@x.com,extra,fields\n")
    assert.same({ email = 1 }, info.columns)
    assert.same({ { line = 2, email = "a@x.com", role_id = "" }, { line = 3, email = "b@x.com", role_id = "" } },
      fields_of(list))
    -- a header alone: no rows
    list, info = rows.parse("email,role\n")
    assert.same({}, list)
    assert.is_true(info.header)
  end)

  it("reads the header names people write: Email Address, E-mail, Role Name, Role ID (issue 14 item 15)", function()
    local cases = {
      { "Email Address,Role Name", { email = 1, role = 2 } },
      { "Role;E-mail", { email = 2, role = 1 } },
      { "e-mail address,role_name", { email = 1, role = 2 } },
      { "Full Name,email_address,ROLE  ID", { email = 2, role = 3 } },
      { " Mail ,Role", { email = 1, role = 2 } },
      { "Email,Role Name,RoleID", { email = 1, role = 3 } },
    }
    for _, case in ipairs(cases) do
      local list, info = rows.parse(case[1] .. "\njo@x.com,user,x\n")
      assert.is_true(info.header, case[1])
      assert.same(case[2], info.columns, case[1])
      assert.equal(1, #list, case[1])
    end
    -- several email columns: the name earlier in the list wins, then the leftmost
    local list, info = rows.parse("E-mail,Email,Email Address\nx,jo@x.com,y\n")
    assert.same({ email = 2 }, info.columns)
    assert.equal("jo@x.com", list[1].email)
    info = select(2, rows.parse("Email Address,E-mail\nx,y\n"))
    assert.same({ email = 2 }, info.columns)
    -- names that are not an email column's: no header, and not data either (QA item 2)
    for _, h in ipairs({ "Emails,Role", "email2,role", "my email,role" }) do
      local none, why = rows.parse(h .. "\njo@x.com,user\n")
      assert.is_nil(none, h)
      assert.equal("line 1 looks like a header row but names no known column: name the email column email, "
        .. "e-mail, email address, e-mail address or mail (and a role column role, role name, rolename, role id "
        .. "or roleid)", why)
    end
    -- after comments the first record's line is named; a tab-separated file is refused as such
    assert.same({ nil, "line 2 looks like a header row but names no known column: name the email column email, "
      .. "e-mail, email address, e-mail address or mail (and a role column role, role name, rolename, role id "
      .. "or roleid)" }, { rows.parse("# team\nWork Email\n") })
    assert.same({ nil, "line 1 is separated by tabs: separate the fields with ',' or ';' (save as CSV)" },
      { rows.parse("jo@x.com\tuser\n") })
  end)

  it("refuses a UTF-16 text (BOM FF FE / FE FF, or NUL-interleaved) with 'save it as UTF-8' (issue 14 item 15)",
    function()
    local function utf16le(s) return (s:gsub(".", "%0\0")) end
    local function utf16be(s) return (s:gsub(".", "\0%0")) end
    local text = "email,role\njo@x.com,user\n"
    local want = "the file is UTF-16 (Excel's \"Unicode Text\" and some exports write it): save it as UTF-8 "
      .. "(\"CSV UTF-8\") and try again"
    for name, t in pairs({ le_bom = "\255\254" .. utf16le(text), be_bom = "\254\255" .. utf16be(text),
      le = utf16le(text), be = utf16be(text), bom_only = "\255\254", utf32le = "\255\254\0\0" .. text }) do
      local list, err = rows.parse(t)
      assert.is_nil(list, name)
      assert.equal(want, err, name)
    end
    local path = files.tmpfile("\255\254" .. utf16le(text))
    local list, err = rows.read(path)
    os.remove(path)
    assert.is_nil(list)
    assert.equal(want, err)
    -- UTF-8 with a NUL somewhere is read as text (its row is refused later)
    list = rows.parse("email,role\njo@x.com,user\nbad\0@x.com,user\n")
    assert.equal(2, #list)
  end)

  it("names a role for a file by the name that reads back to its id, else by the id (issue 14 item 14)", function()
    local roles = { { id = "role_am", name = "Account Manager" }, { id = "role_u2", name = "User" },
      { id = "role_d1", name = "Dup" }, { id = "role_d2", name = "dup" }, { id = "role_x", name = "role_y" },
      { id = "role_n" } }
    assert.equal("Super User", rows.role_field("superuser", roles))
    assert.equal("User", rows.role_field("user", roles))
    assert.equal("Account Manager", rows.role_field("role_am", roles))
    assert.equal("role_u2", rows.role_field("role_u2", roles)) -- "User" reads back as the predefined role
    assert.equal("role_d1", rows.role_field("role_d1", roles)) -- ambiguous
    assert.equal("role_x", rows.role_field("role_x", roles)) -- a name that reads as an id
    assert.equal("role_n", rows.role_field("role_n", roles)) -- no name
    assert.equal("role_gone", rows.role_field("role_gone", roles))
  end)

  it("takes only the first record as a header", function()
    local list, info = rows.parse("a@x.com,user\nemail,role\n")
    assert.is_false(info.header)
    assert.same({ { line = 1, email = "a@x.com", role_id = "user" }, { line = 2, email = "email", role = "role" } },
      fields_of(list))
  end)

  it("picks the separator from the first record: outside quotes, ',' on a tie or with neither", function()
    local cases = {
      { "a@x.com;user\n", ";" },
      { "a@x.com,user\n", "," },
      { "a@x.com\n", "," },
      { "a@x.com;Sales, EMEA\n", "," },           -- a tie
      { "name;email;role,x\n", ";" },
      { '"a,b,c@x.com";user\n', ";" },            -- commas inside quotes do not count
      { '"a;""b;c""@x.com",user\n', "," },
      { "# a;b;c\n\n  \na@x.com,user\n", "," },   -- comments and blank lines are not the first record
      { '"multi\nline,,,";a@x.com;user\n', ";" }, -- the first record, not the first line
      { "", "," },
    }
    for _, c in ipairs(cases) do
      local _, info = rows.parse(c[1])
      assert.equal(c[2], info.separator, c[1])
    end
    local list = rows.parse("a@x.com;user\nb@x.com;Sales, EMEA\n")
    assert.same({ { line = 1, email = "a@x.com", role_id = "user" },
      { line = 2, email = "b@x.com", role = "Sales, EMEA" } }, fields_of(list))
  end)

  it("reads CRLF and LF line ends, mixed, and a last line with or without its line end", function()
    local list = rows.parse("a@x.com,user\r\nb@x.com , admin \r\n" ..
      "\"c@x.com\",\"Multi\r\nline\"\r\nd@x.com\ne@x.com,user")
    assert.same({
      { line = 1, text = "a@x.com,user", email = "a@x.com", role_id = "user" },
      { line = 2, text = "b@x.com , admin ", email = "b@x.com", role_id = "admin" },
      { line = 3, text = '"c@x.com","Multi\r\nline"', email = "c@x.com", role = "Multi\r\nline" },
      { line = 5, text = "d@x.com", email = "d@x.com", role_id = "" },
      { line = 6, text = "e@x.com,user", email = "e@x.com", role_id = "user" },
    }, list)
    assert.same({ { line = 1, text = "a@x.com,user", email = "a@x.com", role_id = "user" } },
      rows.parse("a@x.com,user\r"))
    assert.same({ { line = 1, text = 'a@x.com,"user"', email = "a@x.com", role_id = "user" } },
      rows.parse('a@x.com,"user"'))
    assert.same({ { line = 1, text = 'a@x.com,"user"', email = "a@x.com", role_id = "user" } },
      rows.parse('a@x.com,"user"\r\n'))
  end)

  it("takes '#' as a comment only at the start of a line; blank lines and empty records are skipped", function()
    local list = rows.parse("# a comment, with \"quotes\n  \t# an indented one\n\n   \n\t\r\n" ..
      "jo#e@acme.com,user\nkim@acme.com,Account Manager # not a comment\n,,\n , \n\"#x@acme.com\"\n")
    assert.same({
      { line = 6, text = "jo#e@acme.com,user", email = "jo#e@acme.com", role_id = "user" },
      { line = 7, text = "kim@acme.com,Account Manager # not a comment", email = "kim@acme.com",
        role = "Account Manager # not a comment" },
      { line = 10, text = '"#x@acme.com"', email = "#x@acme.com", role_id = "" },
    }, list)
    -- inside a quoted field a line starting with '#' is data
    list = rows.parse('a@x.com,"Sales\n# EMEA"\n')
    assert.equal("Sales\n# EMEA", list[1].role)
    assert.same({}, rows.parse("# only\n\n# comments\n"))
  end)

  it("numbers lines from the start of each record, after multi-line records too", function()
    local list = rows.parse('# c\n"a@x.com","one\ntwo\nthree"\n\nb@x.com,user\n"c@x.com","d\n"\ne@x.com\n')
    local lines = {}
    for _, r in ipairs(list) do lines[#lines + 1] = r.line end
    assert.same({ 2, 6, 7, 9 }, lines)
    assert.equal('"a@x.com","one\ntwo\nthree"', list[1].text)
    assert.equal('"d\n"', list[3].text:sub(-4))
    assert.equal("d\n", list[3].role)
  end)

  describe("malformed input", function()
    it("an unterminated quote: the error row is the line it opens on, reading goes on at the next", function()
      local list = rows.parse('a@x.com,user\n"b@x.com,user\nc@x.com,admin\nd@x.com,"Sales\n')
      assert.same({
        { line = 1, text = "a@x.com,user", email = "a@x.com", role_id = "user" },
        -- its quote pairs with the one of line 4, and the text after that tells it was a stray one
        { line = 2, text = '"b@x.com,user', error = "unterminated quote in field 1" },
        { line = 3, text = "c@x.com,admin", email = "c@x.com", role_id = "admin" },
        { line = 4, text = 'd@x.com,"Sales', error = "unterminated quote in field 2" },
      }, list)
      -- opened on a later line of a multi-line record: the lines up to it are the text
      list = rows.parse('"a@x.com","two\nlines", "x\nb@x.com\n')
      assert.same({
        { line = 1, text = '"a@x.com","two\nlines", "x', error = "unterminated quote in field 3" },
        { line = 3, text = "b@x.com", email = "b@x.com", role_id = "" },
      }, list)
    end)

    it("a quote in the middle of an unquoted field", function()
      local list = rows.parse('jo"e@x.com,user\na@x.com,Sales "EMEA"\r\nb@x.com\n')
      assert.same({
        { line = 1, text = 'jo"e@x.com,user', error = MIDQUOTE:format(1) },
        { line = 2, text = 'a@x.com,Sales "EMEA"', error = MIDQUOTE:format(2) },
        { line = 3, text = "b@x.com", email = "b@x.com", role_id = "" },
      }, list)
    end)

    it("text after a closing quote", function()
      local list = rows.parse('"a@x.com"x,user\n"b@x.com","two\nlines" ,"role"y\nc@x.com\n')
      assert.same({
        { line = 1, text = '"a@x.com"x,user', error = "text after the closing quote of field 1" },
        { line = 2, text = '"b@x.com","two\nlines" ,"role"y', error = "text after the closing quote of field 3" },
        { line = 4, text = "c@x.com", email = "c@x.com", role_id = "" },
      }, list)
    end)

    it("a record with no email: missing column or empty field", function()
      local list = rows.parse("role,team,email\nuser,north\nadmin,south,\n")
      assert.same({
        { line = 2, text = "user,north",
          error = "no email column (the header puts it in column 3; this record has 2 fields)" },
        { line = 3, text = "admin,south,", error = "empty email (column 3)" },
      }, list)
      assert.same({ { line = 1, text = ",user", error = "empty email (column 1)" } }, rows.parse(",user"))
      assert.same({ { line = 1, text = '"",user', error = "empty email (column 1)" } }, rows.parse('"",user'))
    end)

    it("more than email,role without a header (an unquoted ',' in a role name); trailing empty fields", function()
      local list = rows.parse("a@x.com,Sales, EMEA\nb@x.com,user,,\n")
      assert.same({
        { line = 1, text = "a@x.com,Sales, EMEA",
          error = "more than 2 fields and no header row: a record is email,role (quote a field that holds ',')" },
        { line = 2, text = "b@x.com,user,,", email = "b@x.com", role_id = "user" },
      }, list)
      assert.equal("more than 2 fields and no header row: a record is email;role (quote a field that holds ';')",
        rows.parse("a@x.com;b;c\n")[1].error)
    end)

    it("an error in the first record: no header, the rest is read", function()
      local list, info = rows.parse('email,"role\na@x.com,user\n')
      assert.is_false(info.header)
      assert.same({
        { line = 1, text = 'email,"role', error = "unterminated quote in field 2" },
        { line = 2, text = "a@x.com,user", email = "a@x.com", role_id = "user" },
      }, list)
    end)
  end)

  describe("limits", function()
    it("refuses a field over 64 KiB, quoted or not, and reads the next record", function()
      local max = rows.MAX_FIELD
      assert.equal(64 * 1024, max)
      local ok = ("r"):rep(max)
      local long = ("r"):rep(max + 1)
      local list = rows.parse("a@x.com," .. ok .. "\nb@x.com," .. long .. "\n" ..
        '"c@x.com","' .. ("q"):rep(max) .. '"""\n' ..         -- the "" counts
        '"' .. ("d"):rep(max) .. '\n",user\ne@x.com,user\n')             -- the line break counts
      assert.equal(ok, list[1].role)
      list[1].role = "ok"
      assert.same({
        { line = 1, email = "a@x.com", role = "ok" },
        { line = 2, error = "field 2 is longer than 64 KiB" },
        { line = 3, error = "field 2 is longer than 64 KiB" },
        { line = 4, error = "field 1 is longer than 64 KiB" },
        { line = 6, email = "e@x.com", role_id = "user" },
      }, fields_of(list))
    end)

    it("refuses a record of over 1024 fields, and reads the next", function()
      assert.equal(1024, rows.MAX_FIELDS)
      local many = "a@x.com" .. (","):rep(1024)
      local list, info = rows.parse(many .. "\n" .. "a@x.com" .. (","):rep(1023) .. "\nb@x.com,user\n")
      assert.equal(",", info.separator)
      assert.same({
        { line = 1, error = "more than 1024 fields" },
        { line = 2, email = "a@x.com", role_id = "" },
        { line = 3, email = "b@x.com", role_id = "user" },
      }, fields_of(list))
      assert.equal(many, list[1].text)
      -- picking the separator counts no further than a record may go (there ';' leads 4 to 0)
      rows.MAX_FIELDS = 3
      assert.equal(";", select(2, rows.parse("a;b;c;d;e,f,g,h,i,j,k\n")).separator)
    end)

    it("refuses a file of over a million records (error rows included)", function()
      assert.equal(1000000, rows.MAX_ROWS)
      rows.MAX_ROWS = 3
      assert.equal(3, #rows.parse("email,role\n# c\na@x.com\n\n,,\nb@x.com\n\"c@x.com"))
      assert.same({ nil, "the file has more than 3 records" }, { rows.parse("a@x.com\nb@x.com\nc@x.com\nd\n") })
    end)

    it("refuses a text or a file over 64 MiB, a file from its size", function()
      assert.equal(64 * 1024 * 1024, rows.MAX_FILE)
      local big = ("x"):rep(rows.MAX_FILE + 1)
      assert.same({ nil, "the file is larger than the 64 MiB limit" }, { rows.parse(big) })
      big = nil -- luacheck: ignore 311
      collectgarbage()
      -- a sparse file: its size is seen after its first chunk
      local path = os.tmpname()
      local f = assert(io.open(path, "wb"))
      f:seek("set", rows.MAX_FILE)
      f:write("x")
      f:close()
      assert.same({ nil, "the file is larger than the 64 MiB limit" }, { rows.read(path) })
      os.remove(path)
    end)

    it("stops reading a stream at the limit", function()
      rows.MAX_FILE = 100 * 1024
      local p = assert(io.popen("yes a@x.com,user | head -c 1000000"))
      assert.same({ nil, "the file is larger than the 100 KiB limit" }, { rows.read(p) })
      p:close()
      rows.MAX_FILE = 1000
      local path = files.tmpfile(("a@x.com,user\n"):rep(77)) -- 1001 bytes
      assert.same({ nil, "the file is larger than the 1000 bytes limit" }, { rows.read(path) })
      local fh = assert(io.open(path, "rb"))
      assert.same({ nil, "the file is larger than the 1000 bytes limit" }, { rows.read(fh) })
      fh:close()
      os.remove(path)
    end)
  end)

  describe("read", function()
    it("reads a path, or an open file handle without closing it", function()
      local path = files.tmpfile("email,role\r\na@x.com,user\r\n")
      local list, info = rows.read(path)
      assert.same({ { line = 2, text = "a@x.com,user", email = "a@x.com", role_id = "user" } }, list)
      assert.is_true(info.header)
      local f = assert(io.open(path, "rb"))
      assert.same(list, (rows.read(f)))
      assert.equal("file", io.type(f))
      f:close()
      os.remove(path)
    end)

    it("says why a file cannot be read", function()
      local list, err = rows.read("/nonexistent/members.csv")
      assert.is_nil(list)
      assert.matches("nonexistent/members.csv", err, 1, true)
      list, err = rows.read("/")
      assert.is_nil(list)
      assert.matches("directory", err, 1, true)
    end)

    it("reads the standard input for '-'", function()
      local path = files.tmpfile('\239\187\191email,role\na@x.com,"Sales, EMEA"\nb@x.com,admin\n')
      local child = ("package.path = %q; package.cpath = %q\n"):format(package.path, package.cpath) .. [[
        local list, info = assert(require("close.rows").read("-"))
        io.write(info.separator, " ", tostring(info.header), "\n")
        for _, r in ipairs(list) do io.write(r.line, "|", r.email, "|", r.role_id or "", "|", r.role or "", "\n") end
      ]]
      local script = files.tmpfile(child)
      local p = assert(io.popen(("%s %s < %s"):format(interpreter(), script, path)))
      local out = p:read("*a")
      p:close()
      os.remove(path)
      os.remove(script)
      assert.equal(", true\n2|a@x.com||Sales, EMEA\n3|b@x.com|admin|\n", out)
    end)
  end)

  describe("to_csv", function()
    it("writes email,role with a header, quoting what needs it", function()
      assert.equal('email,role\na@x.com,user\nb@x.com,"Sales, EMEA"\nc@x.com,"The ""A"" team"\n' ..
        'd@x.com,\n"#e@x.com"," padded "\n',
        rows.to_csv({
          { email = "a@x.com", role_id = "user" },
          { email = "b@x.com", role = "Sales, EMEA" },
          { email = "c@x.com", role = 'The "A" team' },
          { email = "d@x.com", role_id = "" },
          { line = 9, text = "x", error = "left out" },
          { email = "#e@x.com", role = " padded " },
        }))
      assert.equal("email,role\n", rows.to_csv({}))
      assert.has_error(function() rows.to_csv({ { email = 1 } }) end,
        "close.rows: to_csv: row 1: email must be a string, got number")
    end)

    it("round-trips through parse", function()
      local list = {
        { email = "a@x.com", role_id = "user" },
        { email = "jo#e@x.com", role_id = "role_abc" },
        { email = "#c@x.com", role = "Account Manager" },
        { email = "d,e@x.com", role = "Sales; EMEA" },
        { email = "f@x.com", role = 'The "A" team' },
        { email = "g@x.com", role = "two\nlines" },
        { email = "h@x.com", role = "crlf\r\ninside" },
        { email = "i@x.com", role = "  spaces  " },
        { email = "email", role = "role" },
        { email = "j@x.com", role_id = "" },
        { email = "k@x.com", role = '"' },
      }
      local back, info = rows.parse(rows.to_csv(list))
      assert.is_true(info.header)
      for i, r in ipairs(back) do
        back[i] = { email = r.email, role_id = r.role_id, role = r.role, error = r.error }
      end
      assert.same(list, back)
    end)
  end)
end)

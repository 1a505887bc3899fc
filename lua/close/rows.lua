--- Membership files: the CSV a person writes or a spreadsheet exports, one
-- membership (`email,role`) a record, read into rows for close-provision and
-- the library; and rows written back as CSV.
--
-- The format is RFC 4180 with what spreadsheets and hand-written files need:
--
-- * fields are separated by `,` or `;`, whichever the first record holds
--   more of outside quotes (`,` on a tie or when it holds neither);
-- * a field may be double-quoted, `""` being a quote inside it; a quoted field
--   may hold separators and line breaks; spaces around a quoted field and
--   around an unquoted one are dropped (inside the quotes they are kept,
--   but in the email column: an address never has spaces);
-- * lines end with LF or CRLF, the last one may have no line end, and a UTF-8
--   BOM at the start is ignored;
-- * a line whose first non-blank character is `#` is a comment (a `#` anywhere
--   else is data: `jo#e@acme.com` is an email); blank lines are skipped, and
--   so are records of empty fields only (`,,` from a spreadsheet's blank row);
-- * the first record is a header when one of its fields names the email
--   column (`email`, `E-mail`, `Email Address`, ...: `EMAIL_HEADERS`, any
--   case): the columns are then found by name (the email, and a role id
--   column, `role_id` or `Role ID`, else a role column, `role` or
--   `Role Name`, in any order; others ignored). Without a header a record
--   is `email[,role]`;
-- * a first record that is no header but has no `@` in any field and a
--   first field (a header of unknown names) is refused naming the accepted names, and so is a
--   tab-separated one (a single field holding tabs): fields are separated
--   by `,` or `;` only (a tab is a space around a field);
-- * a UTF-16 text (a byte order mark FF FE or FE FF, or NULs at every other
--   byte) is refused with "save it as UTF-8", not read as bytes.
--
-- A row is `{line=, text=, email=, role_id= | role=}`: `line` is the line the
-- record starts on, `text` the record as it appeared (its lines, without the
-- last line end), `role_id` the role when it reads as a role id (`user`,
-- `role_...`; `""` when empty: the caller picks the default) and `role`
-- otherwise (a role name, resolved when sent). A record that cannot be read is
-- a row `{line=, text=, error=}` and reading goes on with the next line.
-- @module close.rows

local validate = require "close.validate"

local byte, find, sub, concat = string.byte, string.find, string.sub, table.concat

local M = {}

--- The largest file `read` and `parse` accept, in bytes (64 MiB).
M.MAX_FILE = 64 * 1024 * 1024
--- The longest field, in bytes (64 KiB): no email or role name comes close.
M.MAX_FIELD = 64 * 1024
--- The most records (rows, error rows included) a file may have: a row
-- costs a few hundred bytes, and no organization has that many members.
M.MAX_ROWS = 1000000
--- The most fields a record may have (a line of separators alone would
-- otherwise cost a table entry a byte).
M.MAX_FIELDS = 1024

local BOM = "\239\187\191"
local CHUNK = 64 * 1024

-- what ends an unquoted field, by separator
local UNQUOTED_END = { [","] = '[,"\n]', [";"] = '[;"\n]' }

-- trimmed around unquoted fields (a CR is the first half of a CRLF)
local SPACE = { [32] = true, [9] = true, [13] = true, [11] = true, [12] = true }

local function size_text(n)
  if n % (1024 * 1024) == 0 then return ("%d MiB"):format(n / (1024 * 1024)) end
  if n % 1024 == 0 then return ("%d KiB"):format(n / 1024) end
  return ("%d bytes"):format(n)
end

local function too_big()
  return "the file is larger than the " .. size_text(M.MAX_FILE) .. " limit"
end

-- When the physical line at pos is blank or a comment: where the next starts.
local function skip(s, pos, n)
  local _, e = find(s, "^[ \t\r\v\f]*\n", pos)
  if e then return e + 1 end
  if find(s, "^[ \t\r\v\f]*$", pos) then return n + 1 end
  if find(s, "^[ \t]*#", pos) then
    e = find(s, "\n", pos, true)
    return e and e + 1 or n + 1
  end
end

-- The last byte of a line's text that ends just before `stop` (its LF or the
-- end of the text), without the CR of a CRLF.
local function text_end(s, stop)
  local e = stop - 1
  if byte(s, e) == 13 then e = e - 1 end
  return e
end

-- For the line holding i: the start of the next line and its last byte of text.
local function rest_of_line(s, i, n)
  local e = find(s, "\n", i, true) or n + 1
  return e + 1 <= n and e + 1 or n + 1, text_end(s, e)
end

-- When a record ends at i (LF, CRLF, a last CR or the end of the text): where
-- the next record starts and the last byte of this record's text.
local function record_end(s, i, n)
  if i > n then return n + 1, text_end(s, n + 1) end
  local c = byte(s, i)
  if c == 10 then return i + 1, text_end(s, i) end
  if c == 13 and (i == n or byte(s, i + 1) == 10) then return i == n and n + 1 or i + 2, i - 1 end
end

local function count_lines(s, a, b)
  local k = 0
  local i = find(s, "\n", a, true)
  while i and i <= b do
    k = k + 1
    i = find(s, "\n", i + 1, true)
  end
  return k
end

-- The separator: the one the first record (past comments and blank lines)
-- holds more of outside quotes.
local function detect(s, pos, n)
  while pos <= n do
    local nxt = skip(s, pos, n)
    if not nxt then break end
    pos = nxt
  end
  local commas, semis, quoted = 0, 0, false
  local i = find(s, '[",;\n]', pos)
  -- past MAX_FIELDS separators the record is refused anyway: stop counting
  while i and commas + semis <= M.MAX_FIELDS do
    local c = byte(s, i)
    if c == 34 then
      quoted = not quoted -- a "" escape flips twice
    elseif not quoted then
      if c == 10 then break end
      if c == 44 then commas = commas + 1 else semis = semis + 1 end
    end
    i = find(s, '[",;\n]', i + 1)
  end
  return semis > commas and ";" or ","
end

-- Reads the record at pos. Returns fields, next, last, quoted, long: the
-- fields, where the next record starts, the last byte of this one's text,
-- whether a field was quoted, the first field over MAX_FIELD (or nil).
-- On malformed input returns nil, resume, last, message: reading goes on at
-- `resume`, the start of the line after the one where the problem shows.
local function read_record(s, pos, n, sep)
  local max, stop = M.MAX_FIELD, UNQUOTED_END[sep]
  local sepb = byte(sep)
  local fields, quoted, long, i = {}, false, nil, pos
  while true do
    local k = #fields + 1
    if k > M.MAX_FIELDS then
      local resume, last = rest_of_line(s, i, n)
      return nil, resume, last, ("more than %d fields"):format(M.MAX_FIELDS)
    end
    i = find(s, "[^ \t]", i) or n + 1
    if byte(s, i) == 34 then
      quoted = true
      local open = i
      local parts, len, j = {}, 0, i + 1
      while true do
        local q = find(s, '"', j, true)
        if not q then
          -- the quote swallowed the rest of the text: drop only the line it opens on
          local resume, last = rest_of_line(s, open, n)
          return nil, resume, last, ("unterminated quote in field %d"):format(k)
        end
        len = len + (q - j)
        if len <= max then parts[#parts + 1] = sub(s, j, q - 1) end
        if byte(s, q + 1) ~= 34 then
          i = q + 1
          break
        end
        len = len + 1
        if len <= max then parts[#parts + 1] = '"' end
        j = q + 2
      end
      if len > max then long = long or k end
      fields[k] = len <= max and concat(parts) or ""
      local close = i - 1
      i = find(s, "[^ \t]", i) or n + 1
      if byte(s, i) ~= sepb and not record_end(s, i, n) then
        local nl = find(s, "\n", open, true)
        if nl and nl < close then
          -- a "field" over several lines with text after it: most likely a
          -- stray quote that ran on to the next one; keep the lines it took
          local resume, last = rest_of_line(s, open, n)
          return nil, resume, last, ("unterminated quote in field %d"):format(k)
        end
        local resume, last = rest_of_line(s, i, n)
        return nil, resume, last, ("text after the closing quote of field %d"):format(k)
      end
    else
      local q = find(s, stop, i) or n + 1
      if byte(s, q) == 34 then
        local resume, last = rest_of_line(s, q, n)
        return nil, resume, last,
          ("quote inside unquoted field %d (quote the whole field and double its quotes)"):format(k)
      end
      if q - i > max then
        long = long or k
        fields[k] = ""
      else
        local e = q - 1
        while e >= i and SPACE[byte(s, e)] do e = e - 1 end
        fields[k] = sub(s, i, e)
      end
      i = q
    end
    if byte(s, i) == sepb then
      i = i + 1
    else
      local nxt, last = record_end(s, i, n)
      return fields, nxt, last, quoted, long
    end
  end
end

-- The names a header may give each column, after lowercasing, trimming and
-- reading `_` as a space; when several columns qualify, the name earlier in
-- its list wins (`Email` over `E-mail`), then the leftmost column.
M.EMAIL_HEADERS = { "email", "e-mail", "email address", "e-mail address", "mail" }
M.ROLE_ID_HEADERS = { "role id", "roleid" }
M.ROLE_HEADERS = { "role", "role name", "rolename" }

local function rank_of(list)
  local r = {}
  for i, name in ipairs(list) do r[name] = i end
  return r
end
local RANK = { email = rank_of(M.EMAIL_HEADERS), role_id = rank_of(M.ROLE_ID_HEADERS), role = rank_of(M.ROLE_HEADERS) }

-- Is this first record a header? Returns its columns when it is.
local function header_columns(fields)
  local best, at = {}, {}
  for k, f in ipairs(fields) do
    local name = f:lower():gsub("_", " "):gsub("%s+", " "):match("^ ?(.-) ?$")
    for col, ranks in pairs(RANK) do
      local r = ranks[name]
      if r and (not best[col] or r < best[col]) then best[col], at[col] = r, k end
    end
  end
  -- a role id column wins over a role name column: an id needs no lookup
  if at.email then return { email = at.email, role = at.role_id or at.role } end
end

local function names_text(list)
  return table.concat(list, ", ", 1, #list - 1) .. " or " .. list[#list]
end

local ROLE_NAMES = {}
for _, name in ipairs(M.ROLE_HEADERS) do ROLE_NAMES[#ROLE_NAMES + 1] = name end
for _, name in ipairs(M.ROLE_ID_HEADERS) do ROLE_NAMES[#ROLE_NAMES + 1] = name end

-- Why a first record that is no header cannot be data either, or nil: a
-- tab-separated line (one field holding tabs), or one that looks like a
-- header (no address anywhere) naming no known column; read as data, it
-- would give "INVALID email" for a header and every line after it.
local function not_data(fields, line)
  if #fields == 1 and find(fields[1], "\t") then
    return ("line %d is separated by tabs: separate the fields with ',' or ';' (save as CSV)"):format(line)
  end
  if fields[1] == "" then return nil end -- an empty email: a record missing its address
  for _, f in ipairs(fields) do
    if find(f, "@", 1, true) then return nil end
  end
  return ("line %d looks like a header row but names no known column: name the email column %s (and a role " ..
    "column %s)"):format(line, names_text(M.EMAIL_HEADERS), names_text(ROLE_NAMES))
end

local UTF16 = "the file is UTF-16 (Excel's \"Unicode Text\" and some exports write it): save it as UTF-8 " ..
  "(\"CSV UTF-8\") and try again"

-- A UTF-16 (or UTF-32) text: a byte order mark FF FE / FE FF, or NULs at
-- every other byte of its start (ASCII in UTF-16 without a BOM).
local function utf16(s)
  local b1, b2 = byte(s, 1, 2)
  if (b1 == 0xFF and b2 == 0xFE) or (b1 == 0xFE and b2 == 0xFF) then return true end
  local n = math.min(#s, 64) - math.min(#s, 64) % 2
  if n < 2 then return false end
  local even, odd = 0, 0
  for i = 1, n, 2 do
    if byte(s, i) == 0 then odd = odd + 1 end
    if byte(s, i + 1) == 0 then even = even + 1 end
  end
  return odd >= n / 4 or even >= n / 4 -- half the pairs or more
end

local function role_row(row, role)
  -- a role that reads as an id is one (a malformed id is refused later as an
  -- id rather than looked up as a name); anything else is a role name
  if validate.reads_as_role_id(role) then
    row.role_id = role
  else
    row.role = role
  end
  return row
end

local function all_empty(fields, from)
  for k = from or 1, #fields do
    if fields[k] ~= "" then return false end
  end
  return true
end

--- Parses the text of a membership file.
-- @tparam string text the whole file
-- @treturn table the rows, in file order (see the module doc; error rows included)
-- @treturn table `{separator=, header=bool, header_text=, columns={email=i, role=j}}`
--   (`columns.role` is nil when a header names no role column; `header_text`
--   is the header record as it appeared, for a `.failed` file to start with)
-- @return or nil and a message when the text is over `MAX_FILE` or UTF-16
function M.parse(text)
  if type(text) ~= "string" then error("close.rows: parse expects a string, got " .. type(text), 2) end
  if #text > M.MAX_FILE then return nil, too_big() end
  if utf16(text) then return nil, UTF16 end
  local s, n = text, #text
  local pos = sub(s, 1, 3) == BOM and 4 or 1
  local sep = detect(s, pos, n)
  local info = { separator = sep, header = false, columns = { email = 1, role = 2 } }
  local rows, line, first = {}, 1, true
  while pos <= n do
    local skipped = skip(s, pos, n)
    if skipped then
      pos = skipped
      line = line + 1
    else
      local fields, nxt, last, quoted, long = read_record(s, pos, n, sep)
      local raw = sub(s, pos, last)
      if not fields then
        rows[#rows + 1] = { line = line, text = raw, error = quoted } -- the 4th value is then the message
        first = false
      elseif not quoted and all_empty(fields) then -- luacheck: ignore 542
        -- a spreadsheet's blank row
      elseif long then
        rows[#rows + 1] = { line = line, text = raw,
          error = ("field %d is longer than %s"):format(long, size_text(M.MAX_FIELD)) }
        first = false
      else
        local cols = first and header_columns(fields)
        if first and not cols then
          local why = not_data(fields, line)
          if why then return nil, why end
        end
        first = false
        if cols then
          info.header, info.header_text, info.columns = true, raw, cols
        else
          cols = info.columns
          -- an address never has spaces: quoted ones are trimmed too
          local email = fields[cols.email] and fields[cols.email]:match("^%s*(.-)%s*$")
          local row = { line = line, text = raw }
          if not email then
            row.error = ("no email column (the header puts it in column %d; this record has %d field%s)")
              :format(cols.email, #fields, #fields == 1 and "" or "s")
          elseif email == "" then
            row.error = ("empty email (column %d)"):format(cols.email)
          elseif not info.header and not all_empty(fields, 3) then
            row.error = ("more than 2 fields and no header row: a record is email%srole" ..
              " (quote a field that holds '%s')"):format(sep, sep)
          else
            row.email = email
            role_row(row, fields[cols.role] or "")
          end
          rows[#rows + 1] = row
        end
      end
      if #rows > M.MAX_ROWS then return nil, ("the file has more than %d records"):format(M.MAX_ROWS) end
      line = line + count_lines(s, pos, nxt - 1)
      pos = nxt
    end
  end
  return rows, info
end

--- Reads a membership file.
-- @param path a file name, `-` for the standard input, or an open file handle
--   (read to its end, not closed)
-- @treturn table the rows (see `parse`)
-- @treturn table the file's info (see `parse`)
-- @return or nil and a message (a file that cannot be opened or read, or one
--   over `MAX_FILE`: a file's size is checked after its first 64 KiB, a
--   stream stops at the limit)
function M.read(path)
  local f, own = path, false
  if path == "-" then
    f = io.stdin
  elseif type(path) == "string" then
    local err
    f, err = io.open(path, "rb")
    if not f then return nil, err end
    own = true
  elseif io.type(path) ~= "file" then
    error("close.rows: read expects a path or an open file, got " .. type(path), 2)
  end
  local function fail(err)
    if own then f:close() end
    return nil, err
  end
  -- in chunks, so that a pipe or a growing file cannot take more than the limit
  local parts, total = {}, 0
  while true do
    local chunk, err = f:read(CHUNK)
    if not chunk then
      if err then return fail(err) end
      break
    end
    if own and total == 0 then
      -- a file that can be read tells its size (a directory gives EISDIR above)
      local size = f:seek("end")
      if size and size > M.MAX_FILE then return fail(too_big()) end
      f:seek("set", #chunk)
    end
    total = total + #chunk
    if total > M.MAX_FILE then return fail(too_big()) end
    parts[#parts + 1] = chunk
  end
  if own then f:close() end
  return M.parse(concat(parts))
end

-- Quotes a field when reading it back would not give it whole.
local function field(v, what, i)
  if type(v) ~= "string" then
    error(("close.rows: to_csv: row %d: %s must be a string, got %s"):format(i, what, type(v)), 3)
  end
  if v == "" and what == "email" or find(v, '[,;"\r\n]') or find(v, "^%s") or find(v, "%s$") or find(v, "^#") then
    return '"' .. v:gsub('"', '""') .. '"'
  end
  return v
end

--- How a file names a role so that reading it back gives the same id: its
-- name (`validate.role_name`) when the name reads as a name and resolves to
-- this very id, else the id (a custom role named like another, say).
-- @tparam string role_id
-- @tparam table roles the organization's roles (GET /role/)
-- @treturn string
function M.role_field(role_id, roles)
  local name = validate.role_name(role_id, roles)
  if name ~= role_id and not validate.reads_as_role_id(name) and validate.role_named(name, roles) == role_id then
    return name
  end
  return role_id
end

--- Writes rows as CSV: a header `email,role`, then a record a row (its
-- `role_id` or else its `role`), fields quoted where needed, LF line ends.
-- Error rows are left out. `parse` reads the text back to the same rows.
-- @tparam table list rows `{email=, role_id= | role=}`
-- @treturn string the CSV text
function M.to_csv(list)
  local out = { "email,role\n" }
  for i, row in ipairs(list) do
    if not row.error then
      out[#out + 1] = field(row.email, "email", i) .. "," .. field(row.role_id or row.role or "", "role", i) .. "\n"
    end
  end
  return concat(out)
end

return M

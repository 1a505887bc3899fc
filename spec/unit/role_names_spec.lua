-- Role names as people know them (issue 14 item 14): the predefined roles
-- under the names Close's UI shows, accepted as names and shown for ids.
local validate = require "close.validate"

local ROLES = { { id = "role_s", name = "Support" }, { id = "role_am", name = "Account Manager" },
  { id = "role_x" } }

describe("close.validate role names", function()
  it("lists every role a user may type: the predefined ones in the UI's order, then the organization's sorted",
    function()
    assert.same({ "Admin", "Super User", "User", "Restricted User", "Account Manager", "Support" },
      validate.role_names(ROLES))
    assert.same({ "Admin", "Super User", "User", "Restricted User" }, validate.role_names(nil))
  end)

  it("an unknown name's message names them all", function()
    local id, why = validate.role_named("Wizard", ROLES)
    assert.is_nil(id)
    assert.equal("unknown role 'Wizard' (roles: Admin, Super User, User, Restricted User, Account Manager, Support)",
      why)
  end)

  it("takes the UI's names and the ids of the predefined roles, in any case", function()
    for name, want in pairs({ Admin = "admin", ["super user"] = "superuser", SuperUser = "superuser",
      [" User "] = "user", ["Restricted User"] = "restricteduser", restricteduser = "restricteduser",
      ["account manager"] = "role_am" }) do
      assert.equal(want, (validate.role_named(name, ROLES)), name)
    end
  end)

  it("names an id: the UI's name of a predefined role, a custom role's name, else the id", function()
    assert.equal("Super User", validate.role_name("superuser", ROLES))
    assert.equal("Restricted User", validate.role_name("restricteduser"))
    assert.equal("Support", validate.role_name("role_s", ROLES))
    assert.equal("role_x", validate.role_name("role_x", ROLES))
    assert.equal("role_gone", validate.role_name("role_gone", ROLES))
    assert.is_nil(validate.role_name(nil, ROLES))
  end)
end)

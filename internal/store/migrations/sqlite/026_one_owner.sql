-- An organisation has one Owner at all times: the database refuses a
-- second one, whatever the code does (store.DB.TransferOwnership demotes
-- the Owner before it promotes the new one, in one transaction).
CREATE UNIQUE INDEX memberships_one_owner ON memberships (org_id) WHERE role = 'owner';

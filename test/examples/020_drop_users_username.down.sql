-- Re-create username from display_name with its original NOT NULL and UNIQUE.
-- (Data and DDL together is acceptable here: it only ever runs to undo 020.)
ALTER TABLE users ADD COLUMN username text;
UPDATE users SET username = display_name;
ALTER TABLE users ALTER COLUMN username SET NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_username_key UNIQUE (username);

-- CONTRACT, once no deployed code reads or writes username any more: drop
-- the old column (catalog-only, no rewrite; its unique index goes with it).
ALTER TABLE users DROP COLUMN username;

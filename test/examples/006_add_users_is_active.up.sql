-- NOT NULL with a constant default: instant since PostgreSQL 11 (the default
-- is stored in the catalog, existing rows are not rewritten).
ALTER TABLE users ADD COLUMN is_active boolean NOT NULL DEFAULT true;

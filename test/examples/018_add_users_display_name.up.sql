-- Renaming users.username to display_name by expand/contract.
-- EXPAND: add the new column (nullable, instant); the application now writes both.
ALTER TABLE users ADD COLUMN display_name text;

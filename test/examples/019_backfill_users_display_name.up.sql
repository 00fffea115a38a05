-- MIGRATE: copy the old column into the new one for existing rows
-- (data only; batched on a large table).  The application then reads
-- display_name and keeps writing both.
UPDATE users SET display_name = username WHERE display_name IS NULL;

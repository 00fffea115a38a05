-- MIGRATE: copy the old column into the new one for existing rows, batched
-- in the background worker.  The application then reads display_name and
-- keeps writing both.
SELECT migrate_backfill('users', 'display_name', 'username', 'display_name IS NULL');

-- Step 2: data only, in its own migration so that no DDL lock is held while
-- rows change.  migrate_backfill() runs it in the background worker in
-- batches that lock their rows FOR NO KEY UPDATE SKIP LOCKED; this
-- migration stays "running" until the backfill is done, and the next
-- migration (the foreign key) waits for it.  Two workers share the job,
-- each walking its own block ranges of the table.
SET LOCAL migrate.backfill_workers = 2;
SELECT migrate_backfill('posts', 'author_id',
  '(SELECT u.id FROM users u WHERE u.username = posts.author_name)');

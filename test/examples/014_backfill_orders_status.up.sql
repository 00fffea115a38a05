-- Step 2: backfill the old rows in the background worker, in batches that
-- never wait on the application's row locks.  The CHECK in 015 runs only
-- once every row is filled.
SELECT migrate_backfill('orders', 'status', $$'pending'$$, 'status IS NULL');

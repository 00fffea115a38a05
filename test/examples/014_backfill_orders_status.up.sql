-- Step 2: backfill the old rows, as a data-only migration.  (On a large
-- table this would be batched.)
UPDATE orders SET status = 'pending' WHERE status IS NULL;

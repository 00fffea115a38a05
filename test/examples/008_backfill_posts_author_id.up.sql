-- Step 2: data only, in its own migration so that no DDL lock is held while
-- rows are updated.  (On a large table this would be a batched backfill.)
UPDATE posts p
SET author_id = u.id
FROM users u
WHERE u.username = p.author_name
  AND p.author_id IS NULL;

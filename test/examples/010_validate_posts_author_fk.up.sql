-- Step 4, in a separate transaction: VALIDATE scans posts under SHARE UPDATE
-- EXCLUSIVE, which does not block reads or writes.
ALTER TABLE posts VALIDATE CONSTRAINT posts_author_id_fkey;

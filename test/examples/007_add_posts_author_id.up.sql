-- Step 1 of replacing posts.author_name by a real foreign key: a nullable
-- column (no rewrite).  The application starts writing both columns.
ALTER TABLE posts ADD COLUMN author_id bigint;

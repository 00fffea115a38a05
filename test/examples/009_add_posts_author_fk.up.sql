-- Step 3: the constraint NOT VALID: enforced for new rows at once, existing
-- rows are not scanned, so the SHARE ROW EXCLUSIVE lock is brief.
ALTER TABLE posts
    ADD CONSTRAINT posts_author_id_fkey
    FOREIGN KEY (author_id) REFERENCES users (id) NOT VALID;

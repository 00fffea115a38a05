-- A validated constraint cannot be marked NOT VALID again: put back the
-- state after 009 by re-creating it NOT VALID (no scan).
ALTER TABLE posts DROP CONSTRAINT posts_author_id_fkey;
ALTER TABLE posts
    ADD CONSTRAINT posts_author_id_fkey
    FOREIGN KEY (author_id) REFERENCES users (id) NOT VALID;

ALTER TABLE posts DROP CONSTRAINT IF EXISTS posts_author_id_fkey;

-- Builds without blocking writes.  CONCURRENTLY cannot run inside a
-- transaction block, so it is the only statement of its migration.
CREATE INDEX CONCURRENTLY IF NOT EXISTS posts_author_id_idx ON posts (author_id);

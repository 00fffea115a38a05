-- Additive and nullable: a catalog-only change, no rewrite, no scan.
ALTER TABLE users ADD COLUMN avatar_url text;

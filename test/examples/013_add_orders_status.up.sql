-- orders.status must end up NOT NULL.  Step 1: a nullable column (no rewrite,
-- existing rows read NULL); new rows get 'pending' from the default.
ALTER TABLE orders ADD COLUMN status text;
ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'pending';

-- Step 5: SET NOT NULL uses the validated CHECK as proof (PostgreSQL 12+), so
-- it does not scan; then the CHECK is redundant and goes away.
ALTER TABLE orders ALTER COLUMN status SET NOT NULL;
ALTER TABLE orders DROP CONSTRAINT orders_status_not_null;

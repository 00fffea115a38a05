-- Put back the validated CHECK first (NOT VALID + VALIDATE: while the
-- column is still NOT NULL this cannot fail), then drop NOT NULL.
ALTER TABLE orders
    ADD CONSTRAINT orders_status_not_null CHECK (status IS NOT NULL) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_status_not_null;
ALTER TABLE orders ALTER COLUMN status DROP NOT NULL;

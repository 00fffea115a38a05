ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_status_not_null;

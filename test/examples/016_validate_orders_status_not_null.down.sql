-- Back to the NOT VALID state 015 left (no scan).
ALTER TABLE orders DROP CONSTRAINT orders_status_not_null;
ALTER TABLE orders
    ADD CONSTRAINT orders_status_not_null CHECK (status IS NOT NULL) NOT VALID;

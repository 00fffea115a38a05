-- Step 3: CHECK ... NOT VALID takes ACCESS EXCLUSIVE only for a moment: no scan.
ALTER TABLE orders
    ADD CONSTRAINT orders_status_not_null CHECK (status IS NOT NULL) NOT VALID;

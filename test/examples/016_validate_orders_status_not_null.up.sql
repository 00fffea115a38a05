-- Step 4: VALIDATE scans under SHARE UPDATE EXCLUSIVE (reads and writes go on).
ALTER TABLE orders VALIDATE CONSTRAINT orders_status_not_null;

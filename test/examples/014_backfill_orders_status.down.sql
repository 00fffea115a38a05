-- Before 014 every row that existed had status NULL; rows inserted since
-- then got 'pending' from the default and are indistinguishable, so the
-- whole column goes back to NULL, the state 013 left.
UPDATE orders SET status = NULL WHERE status IS NOT NULL;

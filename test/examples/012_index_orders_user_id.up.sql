-- "Orders of a user, newest first" without blocking writes on orders.
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_user_id_created_at_idx
    ON orders (user_id, created_at DESC);
